package model
allow if { semver.compare("1.2.3", "1.10.0") < 0 }