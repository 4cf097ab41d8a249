package model
allow = true