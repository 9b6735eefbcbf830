#!version:1.0.0.1
## The common boot file: every Yealink-family phone reads its own files next.
include:config "y0000000000$PN.cfg"
include:config "$MAC.cfg"
overwrite_mode = 1
