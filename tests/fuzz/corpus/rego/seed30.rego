package model
allow if { input.user == "bob" with input.user as "bob" }