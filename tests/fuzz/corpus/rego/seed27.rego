package model
allow if { array.slice(array.concat([1], [2, 3]), 1, 3) == [2, 3] }