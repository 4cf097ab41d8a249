package model
allow if { some r in input.roles; r == "admin" }