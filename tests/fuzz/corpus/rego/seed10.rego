package model
f(x) := y if { y := x * 2 }
allow if f(2) == 4