package model
allow if { x := numbers.range(1, 1000); count(x) > 0 }