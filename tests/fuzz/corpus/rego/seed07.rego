package model
allow if { count(input.roles) > 1; input.n < data.limits.n }