package model
allow if { sprintf("%s-%d", [input.user, input.n]) == "alice-3" }