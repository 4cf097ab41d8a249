package model
allow := true
allow := false