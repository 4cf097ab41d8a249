package model
import rego.v1
allow if { input.user in data.allow_users }