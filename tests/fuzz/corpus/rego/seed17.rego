package model
allow if { glob.match("*.example.com", ["."], "api.example.com") }