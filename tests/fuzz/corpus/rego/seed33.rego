package model
allow if { p }
p if { allow }