package model
allow if { object.get(input, "missing", 7) == 7; object.keys({"a": 1}) == {"a"} }