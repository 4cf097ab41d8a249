package model
allow if { is_string("a"); type_name(1) == "number" }