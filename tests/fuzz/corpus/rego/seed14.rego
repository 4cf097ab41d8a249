package model
allow if { not input.banned }