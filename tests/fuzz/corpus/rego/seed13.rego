package model
allow if { o := {k: v | some k, v in ["a","b"]}; o[0] == "a" }