package model
allow if { x := 7 / 2; x == 3.5; 7 % 2 == 1 }