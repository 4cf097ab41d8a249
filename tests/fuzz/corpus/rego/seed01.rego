package model
allow := true