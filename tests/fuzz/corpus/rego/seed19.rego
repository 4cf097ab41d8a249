package model
allow if { time.parse_rfc3339_ns(input.time) < time.now_ns() }