#!version:1.0.0.1
include:config "{{ device.mac }}.cfg"
overwrite_mode = 1
