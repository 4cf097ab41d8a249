package model
allow if { split("a,b", ",")[1] == "b"; trim_space("  x ") == "x" }