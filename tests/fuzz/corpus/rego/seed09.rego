package model
perms[k] := v if { some k, v in {"a": 1, "b": 2} }
allow if perms.a == 1