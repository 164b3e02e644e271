#!/usr/bin/env bash
# Add an account to the course (run as root):
#   deploy/add_user.sh student NAME       a student: JupyterLab with the Assignments panel
#   deploy/add_user.sh instructor NAME    an instructor: formgrader; the course is copied to ~/mixed-models
# Creates the system user if it does not exist (set a password with `passwd NAME` for PAM log-in),
# makes the home folder private and adds the user to the role's group. A student is also entered
# in every instructor's gradebook. MM_HOME_BASE puts new home folders elsewhere than /home.
set -euo pipefail
role=${1:?usage: add_user.sh student|instructor NAME}
name=${2:?usage: add_user.sh student|instructor NAME}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
: "${MM_STUDENT_GROUP:=mixed-models-students}" "${MM_INSTRUCTOR_GROUP:=mixed-models-instructors}"
: "${MM_VENV:=$repo/.venv}"   # the environment the hub runs from (nbgrader is in it)
case "$role" in
    student) group=$MM_STUDENT_GROUP ;;
    instructor) group=$MM_INSTRUCTOR_GROUP ;;
    *) echo "role must be student or instructor, not $role" >&2; exit 2 ;;
esac

if ! id "$name" >/dev/null 2>&1; then
    useradd --create-home ${MM_HOME_BASE:+--home-dir "$MM_HOME_BASE/$name"} --shell /bin/bash "$name"
fi
usermod -a -G "$group" "$name"
home=$(getent passwd "$name" | cut -d: -f6)
chmod 0700 "$home"   # students never read each other's home folders

nbgrader() { runuser -u "$1" -- env PATH="$MM_VENV/bin:$PATH" HOME="$(getent passwd "$1" | cut -d: -f6)" \
                 "$MM_VENV/bin/nbgrader" "${@:2}"; }
if [ "$role" = instructor ]; then
    course="$home/mixed-models"
    if [ ! -e "$course" ]; then
        install -d -o "$name" -m 0700 "$course"
        cp -r "$repo/nbgrader_config.py" "$repo/solutions" "$repo/exercises" "$course/"
        chown -R "$name:" "$course"
    fi
    echo "instructor $name: course directory $course"
else
    for teacher in $(getent group "$MM_INSTRUCTOR_GROUP" | cut -d: -f4 | tr , ' '); do
        teacher_home=$(getent passwd "$teacher" | cut -d: -f6)
        [ -d "$teacher_home/mixed-models" ] || continue
        (cd "$teacher_home/mixed-models" && nbgrader "$teacher" db student add "$name" >/dev/null)
    done
    echo "student $name added"
fi
