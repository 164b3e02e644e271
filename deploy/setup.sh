#!/usr/bin/env bash
# One-time set-up of the machine for the course's JupyterHub (run as root):
# the two role groups, the shared nbgrader exchange and the hub's state folder.
# The same environment variables as deploy/jupyterhub_config.py move them elsewhere.
set -euo pipefail
: "${MM_EXCHANGE:=/srv/nbgrader/exchange}" "${MM_HUB_STATE:=/srv/jupyterhub}"
: "${MM_STUDENT_GROUP:=mixed-models-students}" "${MM_INSTRUCTOR_GROUP:=mixed-models-instructors}"

groupadd -f "$MM_STUDENT_GROUP"
groupadd -f "$MM_INSTRUCTOR_GROUP"
# Everyone may create entries in the exchange, nobody may delete another's (sticky bit).
# nbgrader itself makes the course folder: outbound/ readable, inbound/ write-only (0733).
install -d -m 0755 "$(dirname "$MM_EXCHANGE")"
install -d -m 1777 "$MM_EXCHANGE"
install -d -m 0700 "$MM_HUB_STATE"   # the hub's database and cookie secret: root only
echo "groups $MM_INSTRUCTOR_GROUP, $MM_STUDENT_GROUP; exchange $MM_EXCHANGE; hub state $MM_HUB_STATE"
