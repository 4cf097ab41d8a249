package model
allow if { json.unmarshal(json.marshal({"a": [1]})).a[0] == 1 }