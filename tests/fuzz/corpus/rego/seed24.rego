package model
allow if { crypto.sha256("") != "" }