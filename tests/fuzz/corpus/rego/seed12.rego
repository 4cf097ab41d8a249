package model
allow if { s := {y | some y in [1,1,2]}; s == {1, 2} }