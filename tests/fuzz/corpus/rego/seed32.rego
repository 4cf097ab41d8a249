package model
p[x] { x := 1 }