package model
allow if { base64.decode(base64.encode("x")) == "x" }