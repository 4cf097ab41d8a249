package model
allow if { every r in input.roles { startswith(r, "a") } }