package model
allow { true }