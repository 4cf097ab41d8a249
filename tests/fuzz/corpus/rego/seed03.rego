package model
default allow := false
allow if input.user == "alice"