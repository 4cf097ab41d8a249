package model
allow := 1 if false else := true