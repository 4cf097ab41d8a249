package model
allow if { regex.match("^al", input.user) }