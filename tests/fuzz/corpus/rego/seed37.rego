package model
allow if { to_number("12") == 12; format_int(255, 16) == "ff" }