package model
roles contains r if { some r in input.roles }
allow if roles["dev"]