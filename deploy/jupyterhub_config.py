"""JupyterHub for the mixed-models course on one machine (nbgrader, course id `mixed-models`).

    sudo deploy/setup.sh                                    # once: groups, exchange, hub state folder
    sudo deploy/add_user.sh instructor teacher              # the instructor (gets ~/mixed-models)
    sudo deploy/add_user.sh student alice                   # each student
    sudo .venv/bin/jupyterhub -f deploy/jupyterhub_config.py --port 8000

Accounts are the machine's users; the hub runs as root and starts each user's JupyterLab
as that user (LocalProcessSpawner), so files and the nbgrader exchange are protected by the
system's permissions. Roles come from two Unix groups:

    mixed-models-instructors   formgrader, create assignment, course list (+ assignments, validate)
    mixed-models-students      assignment list and validate only

Each role gets its own Jupyter config folder (deploy/jupyter/<role>, plus deploy/jupyter/common
for the exchange and course id) through JUPYTER_CONFIG_PATH. Log-in is PAM (the users' system
passwords). Environment variables, all optional:

    MM_HUB_AUTH          pam (default) | shared-password (tests: one password, MM_HUB_PASSWORD)
    MM_EXCHANGE          the nbgrader exchange            (default /srv/nbgrader/exchange)
    MM_HUB_STATE         the hub's database, cookie secret (default /srv/jupyterhub)
    MM_STUDENT_GROUP / MM_INSTRUCTOR_GROUP   the two groups (defaults above)
    MM_USER_VENV         the Python environment of the users' servers (default: the hub's own).
                         Every user must be able to run its python: make it from a system-wide
                         interpreter in a readable clone (make venv PYTHON=/usr/bin/python3 in
                         /opt/mixed-models), not from one under /root.
"""
import grp
import os
import pwd
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (provided by traitlets when this file is loaded)

DEPLOY = Path(__file__).resolve().parent
USER_VENV = Path(os.environ.get("MM_USER_VENV", sys.prefix))  # jupyterhub-singleuser, nbgrader, the kernel
EXCHANGE = os.environ.get("MM_EXCHANGE", "/srv/nbgrader/exchange")
STATE = Path(os.environ.get("MM_HUB_STATE", "/srv/jupyterhub"))
GROUPS = {
    "instructor": os.environ.get("MM_INSTRUCTOR_GROUP", "mixed-models-instructors"),
    "student": os.environ.get("MM_STUDENT_GROUP", "mixed-models-students"),
}


def group_members(group):
    """Users in a Unix group: listed members and users whose primary group it is."""
    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return set()
    return set(entry.gr_mem) | {u.pw_name for u in pwd.getpwall() if u.pw_gid == entry.gr_gid}


def course_role(username):
    """'instructor', 'student' or None (not in the course), from the Unix groups."""
    for role, group in GROUPS.items():
        if username in group_members(group):
            return role
    return None


# ---------------------------------------------------------------------------- hub and proxy
c.JupyterHub.bind_url = "http://:8000"  # behind a TLS-terminating reverse proxy in a real class
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server
c.JupyterHub.shutdown_on_logout = False

# ---------------------------------------------------------------------------- who may log in
if os.environ.get("MM_HUB_AUTH", "pam") == "shared-password":
    # For tests only: the course's accounts log in with one password.
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = os.environ["MM_HUB_PASSWORD"]
    c.Authenticator.allowed_users = set().union(*(group_members(g) for g in GROUPS.values()))
else:
    # A real class: system accounts and passwords (PAM), members of the two groups only.
    # Groups are read at each log-in, so students added with add_user.sh need no restart.
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.allowed_groups = set(GROUPS.values())

# ---------------------------------------------------------------------------- each user's JupyterLab
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(USER_VENV / "bin" / "python"), "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    # nbgrader runs `alembic` from this environment's bin/
    "PATH": os.pathsep.join([str(USER_VENV / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
    "MM_EXCHANGE": EXCHANGE,
    "MPLBACKEND": "Agg",
    "OPENBLAS_NUM_THREADS": "1",
}


def per_role_config(spawner):
    """Point the user's server at the Jupyter config folders of their role."""
    role = course_role(spawner.user.name)
    if role is None:
        raise ValueError(f"{spawner.user.name} is in neither {GROUPS['student']} nor {GROUPS['instructor']}")
    spawner.environment = {**spawner.environment, "JUPYTER_CONFIG_PATH": os.pathsep.join(
        [str(DEPLOY / "jupyter" / role), str(DEPLOY / "jupyter" / "common")])}


c.Spawner.pre_spawn_hook = per_role_config
