package model
allow if { x := [y | some y in [1,2,3]; y > 1]; count(x) == 2 }