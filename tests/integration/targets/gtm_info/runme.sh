#!/usr/bin/env bash
# Against a drlab lab: see ../setup_drlab/run-target.sh.
exec ../setup_drlab/run-target.sh "$@"
