"""The course on a JupyterHub, end to end: deploy/ with real users, the exchange and a browser.

Runs as root (it creates system users, as a real class on one machine has) and needs
configurable-http-proxy (npm) and Node.js; without them it is skipped with the reason.
Everything lives in a temporary folder (homes, exchange, hub state), under temporary users
and groups with a random suffix; all are removed at the end.

The cycle: deploy/setup.sh and deploy/add_user.sh make one instructor and two students;
the hub (deploy/jupyterhub_config.py) starts on 127.0.0.1. The instructor releases
`prerequisites` through the formgrader on their own server. Student A logs in with
headless Chromium, opens the Assignments panel, fetches, answers all three questions in the
notebook and submits; student B does the same through the hub's REST API and the nbgrader
endpoints of their server, answering two of three right. The instructor collects, autogrades,
generates and releases feedback (formgrader API); A fetches the feedback in JupyterLab, B
through the API; the
exported grades are 3/3 and 2/3. Along the way it checks that students are kept apart.
A screenshot of A's Assignments panel after the fetch goes to build/screenshots/hub_assignments.png.
The hub runs from a copy of deploy/ and the course in the temporary folder, so the users can read
them wherever this checkout is.

Also here: the hub config in both log-in modes (quick), and deploy/grade_class.py's parallel
grading against nbgrader's own (slow).
"""
import csv
import grp
import html
import io
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV = Path(sys.prefix)
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
COURSE = "mixed-models"
ASSIGNMENT = "prerequisites"
RIGHT = {"q1": 'q1 = "b"', "q2": 'q2 = "d"', "q3": 'q3 = "a"'}
PARTIAL = {**RIGHT, "q2": 'q2 = "a"'}  # two of three
LAB_SETTINGS = {  # no news/update toasts over the panel, every notebook cell in the DOM
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_requirement():
    """Why this machine cannot run the hub test, or None."""
    if os.geteuid() != 0:
        return "needs root: it creates system users for the hub's LocalProcessSpawner"
    for tool in ("useradd", "userdel", "groupdel", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    if shutil.which("node") is None:
        return "Node.js not found (apt-get install -y nodejs npm)"
    if shutil.which("configurable-http-proxy") is None:
        return "configurable-http-proxy not found (npm install -g configurable-http-proxy)"
    if not (VENV / "bin" / "jupyterhub").exists():
        return f"jupyterhub is not installed in {VENV} (pip install jupyterhub)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not importable ({exc})"
    return None


def runnable_by_others(python):
    probe = subprocess.run(["runuser", "-u", "nobody", "--", str(python), "-c", "import jupyterhub, nbgrader, jupyterlab"],
                           capture_output=True, text=True)
    return probe.returncode == 0


def link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def user_environment(sandbox):
    """A Python environment every user can run, with this environment's packages.

    The students' servers run as the students. When this environment's interpreter is out of
    their reach (pyenv's python under /root, as on CI), the interpreter and this environment's
    site-packages, share/ and etc/ (kernels, JupyterLab extensions, server-extension switches)
    are copied into the sandbox as hard links (a few seconds; root-owned, so the users cannot
    change them) and its console scripts rewritten for the copy. Its python is a wrapper that
    finds the copied libpython (the original's RUNPATH points under /root).
    """
    if runnable_by_others(VENV / "bin" / "python"):
        return VENV
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base, interpreter, shim = Path(sys.base_prefix), sandbox / "python", sandbox / "user-venv"
    (interpreter / "bin").mkdir(parents=True)
    link_or_copy(base / "bin" / version, interpreter / "bin" / version)
    keep = {version, f"lib{version}.so", f"lib{version}.so.1.0", "libpython3.so"}
    shutil.copytree(base / "lib", interpreter / "lib", symlinks=True, copy_function=link_or_copy,
                    ignore=lambda folder, names: [n for n in names if n == "site-packages"
                                                  or (Path(folder) == base / "lib" and n not in keep)])
    run(interpreter / "bin" / version, "-m", "venv", "--without-pip", shim,
        env=dict(os.environ, LD_LIBRARY_PATH=str(interpreter / "lib")))
    wrapper = shim / "bin" / version
    wrapper.unlink()
    wrapper.write_text(f'#!/bin/bash\nLD_LIBRARY_PATH={interpreter / "lib"}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}} '
                       f'exec -a "$0" {interpreter / "bin" / version} "$@"\n')
    wrapper.chmod(0o755)
    site_packages = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(str(VENV)))
    shutil.copytree(site_packages, shim / "lib" / version / "site-packages", dirs_exist_ok=True, symlinks=True,
                    copy_function=link_or_copy)
    for folder in ("share", "etc"):
        if (VENV / folder).is_dir():
            shutil.copytree(VENV / folder, shim / folder, symlinks=True, copy_function=link_or_copy)
    for script in (VENV / "bin").iterdir():
        if script.is_symlink() or not script.is_file() or script.stat().st_size > 100_000:
            continue
        text = script.read_text(errors="replace")
        if text.startswith(f"#!{VENV}/bin/python"):
            target = shim / "bin" / script.name
            target.write_text(f"#!{shim}/bin/python\n" + text.split("\n", 1)[1])
            target.chmod(0o755)
    if not runnable_by_others(shim / "bin" / "python"):
        pytest.skip(f"neither {VENV}'s python nor a copy of it in {sandbox} can be run by other users")
    return shim


def course_files(sandbox):
    """deploy/ and the course's nbgrader sources copied into the sandbox, where every user can read
    them (the users' servers read deploy/jupyter/<role>/) wherever this checkout lives."""
    repo = sandbox / "repo"
    repo.mkdir()
    for name in ("deploy", "solutions", "exercises"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    shutil.copy2(ROOT / "nbgrader_config.py", repo / "nbgrader_config.py")
    return repo / "deploy"


def run(*cmd, env=None, check=True, **kw):
    result = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=300, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


class Hub:
    """A running JupyterHub from deploy/, its users and REST calls made with their tokens."""

    def __init__(self, base, log):
        self.base, self.log, self.tokens = base, log, {}

    def request(self, method, path, user=None, data=None, form=None, expect=(200, 201, 202, 204)):
        """One HTTP request to the hub's public address; returns (status, parsed JSON or text)."""
        headers = {}
        body = None
        if user:
            headers["Authorization"] = f"token {self.tokens[user]}"
        if data is not None:
            body, headers["Content-Type"] = json.dumps(data).encode(), "application/json"
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=300) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode(errors="replace")
        if expect and status not in expect:
            raise AssertionError(f"{method} {path} as {user}: HTTP {status}\n{text[:2000]}\n"
                                 f"hub log (tail):\n{self.log.read_text()[-4000:]}")
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def login(self, user, password):
        """A token for `user`, obtained with their password (the hub's token API)."""
        _, reply = self.request("POST", f"/hub/api/users/{user}/tokens",
                                data={"auth": {"username": user, "password": password}, "note": "test"})
        self.tokens[user] = reply["token"]

    def start_server(self, user, timeout=180):
        self.request("POST", f"/hub/api/users/{user}/server", user=user, expect=(201, 202, 400))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, model = self.request("GET", f"/hub/api/users/{user}", user=user)
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(1)
        raise AssertionError(f"{user}'s server not ready in {timeout} s:\n{self.log.read_text()[-4000:]}")

    def formgrader(self, user, action):
        """POST to the formgrader API on `user`'s server; fails unless nbgrader reports success."""
        _, reply = self.request("POST", f"/user/{user}/formgrader/api/{action}", user=user)
        assert isinstance(reply, dict) and reply.get("success"), f"formgrader {action}: {reply}"
        return reply

    def assignments(self, user, action=None):
        """The nbgrader assignment list of `user`'s server (after an action: fetch, submit, fetch_feedback)."""
        if action is None:
            _, reply = self.request("GET", f"/user/{user}/assignments?course_id={COURSE}", user=user)
        else:
            _, reply = self.request("POST", f"/user/{user}/assignments/{action}", user=user,
                                    form={"course_id": COURSE, "assignment_id": ASSIGNMENT})
        assert reply.get("success"), f"{action or 'list'} as {user}: {reply}"
        return reply["value"]


@pytest.fixture
def course_hub():
    """The course's hub with one instructor and two students; yields (hub, names, sandbox, env, password)."""
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    names = {"instructor": f"mmi{tag}", "alice": f"mma{tag}", "bob": f"mmb{tag}"}
    sandbox = Path(tempfile.mkdtemp(prefix="mm-hub-"))
    sandbox.chmod(0o755)
    (sandbox / "home").mkdir(mode=0o755)
    password = secrets.token_urlsafe(12)
    env = dict(os.environ,
               MM_EXCHANGE=str(sandbox / "srv" / "exchange"), MM_HUB_STATE=str(sandbox / "srv" / "hub"),
               MM_STUDENT_GROUP=f"mms{tag}", MM_INSTRUCTOR_GROUP=f"mmt{tag}",
               MM_HOME_BASE=str(sandbox / "home"),
               MM_HUB_AUTH="shared-password", MM_HUB_PASSWORD=password,
               PATH=os.pathsep.join([str(VENV / "bin"), os.environ.get("PATH", "")]))
    for key in ("JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        env.pop(key, None)
    proc = None
    log = sandbox / "hub.log"
    try:
        user_venv = user_environment(sandbox)
        deploy = course_files(sandbox)
        env.update(MM_VENV=str(user_venv), MM_USER_VENV=str(user_venv))
        run("bash", deploy / "setup.sh", env=env)
        run("bash", deploy / "add_user.sh", "instructor", names["instructor"], env=env)
        for student in ("alice", "bob"):
            run("bash", deploy / "add_user.sh", "student", names[student], env=env)
        write_lab_settings(names["alice"])

        port, hub_port, api_port = free_port(), free_port(), free_port()
        cmd = [VENV / "bin" / "jupyterhub", "-f", deploy / "jupyterhub_config.py",
               f"--JupyterHub.bind_url=http://127.0.0.1:{port}", "--JupyterHub.hub_ip=127.0.0.1",
               f"--JupyterHub.hub_port={hub_port}", f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{api_port}"]
        with open(log, "w") as log_file:
            proc = subprocess.Popen([str(c) for c in cmd], cwd=sandbox, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        hub = Hub(f"http://127.0.0.1:{port}", log)
        wait_for_hub(hub, proc)
        for name in names.values():
            hub.login(name, password)
        yield hub, names, sandbox, env, password
    finally:
        if proc is not None:
            stop(proc)
        leftovers = users_processes(names.values(), grace=SHUTDOWN_GRACE)
        for name, pid in leftovers:  # processes the hub started as this test's users
            run("kill", "-9", pid, check=False)
        for name in names.values():
            run("userdel", name, check=False)
        for group in (env["MM_STUDENT_GROUP"], env["MM_INSTRUCTOR_GROUP"]):
            run("groupdel", group, check=False)
        shutil.rmtree(sandbox, ignore_errors=True)
        assert not leftovers, f"processes outlived the hub: {leftovers}"


SHUTDOWN_GRACE = 15  # seconds: the hub stops the users' servers, which stop their kernels, as it exits


def users_processes(users, grace):
    """(user, pid) of every process still running as one of ``users`` after up to ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        found = [(name, pid) for name in users for pid in run("pgrep", "-u", name, check=False).stdout.split()]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def write_lab_settings(user):
    """JupyterLab user settings for the browser student, owned by them."""
    entry = pwd.getpwnam(user)
    for plugin, values in LAB_SETTINGS.items():
        path = Path(entry.pw_dir) / ".jupyter" / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    run("chown", "-R", f"{user}:", Path(entry.pw_dir) / ".jupyter")


def wait_for_hub(hub, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyterhub exited with {proc.returncode}:\n{hub.log.read_text()[-4000:]}")
        try:
            status, _ = hub.request("GET", "/hub/api/", expect=None)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"jupyterhub did not answer within {timeout} s:\n{hub.log.read_text()[-4000:]}")


def stop(proc):
    """SIGTERM the hub (it stops the users' servers and the proxy), then its whole session if need be."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
    try:  # the proxy and anything else started in the hub's session
        os.killpg(proc.pid, 15)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------------- the student in a browser


def answer_in_lab(page, answers):
    """Type each answer into its cell of the open notebook (the cell that holds the stub) and save."""
    for gid in ("q1", "q2", "q3"):
        stub = page.locator(".jp-CodeCell", has_text="raise NotImplementedError()").first
        editor = stub.locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.type(answers[gid])
        page.keyboard.press("Escape")
    page.keyboard.press("Control+s")


@pytest.fixture
def chromium_page():
    """A page in Debian's headless Chromium (Playwright), closed at the end."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 900})
        finally:
            browser.close()


def screenshot_on_failure(step):
    """Run a browser step; on failure keep a picture of the page (build/screenshots/hub_failure.png)."""
    def wrapped(page, *args):
        try:
            return step(page, *args)
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "hub_failure.png"))
            raise
    return wrapped


@screenshot_on_failure
def submit_in_lab(page, hub, user, password):
    """Log in, fetch, answer and submit through JupyterLab; returns the fetched-panel screenshot path."""
    shot = SCREENSHOTS / "hub_assignments.png"
    page.goto(f"{hub.base}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=180_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).first.click(timeout=120_000)
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Assignment List$")).first.click()

    released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
    released.locator("button", has_text="Fetch").click(timeout=60_000)
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first
    fetched.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot))

    fetched.locator("a.assignment-notebooks-link").click()
    page.locator("#fetched_assignments_list a", has_text=re.compile(rf"^{ASSIGNMENT}$")).last.click()
    page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=60_000)
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=60_000)
    answer_in_lab(page, RIGHT)
    page.locator(".jp-NotebookPanel .jp-mod-dirty").wait_for(state="detached", timeout=30_000)

    page.locator(".lm-TabBar-tab", has_text="Assignments").first.click()
    fetched.locator("button", has_text="Submit").first.click()
    page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).first.wait_for(timeout=60_000)
    return shot


@screenshot_on_failure
def fetch_feedback_in_lab(page):
    """Refresh the Assignments panel and press Fetch Feedback; wait for the '(view feedback)' link."""
    page.locator(".lm-TabBar-tab", has_text="Assignments").first.click()
    page.locator("button[title='Refresh assignments list']").first.click()
    submitted = page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).first
    submitted.locator("text=(feedback available to fetch)").wait_for(timeout=60_000)
    submitted.locator("button", has_text="Fetch Feedback").click()
    page.locator("#submitted_assignments_list a", has_text="(view feedback)").first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "hub_feedback.png"))


# ---------------------------------------------------------------------------- the student through the API


def notebook_path():
    return f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"


def read_notebook(hub, user):
    _, model = hub.request("GET", f"/user/{user}/api/contents/{notebook_path()}?content=1", user=user)
    return model["content"]


def with_answers(nb, answers):
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell["source"] = answers[gid]
    return nb


def answers_in(nb):
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("solution")}


# ---------------------------------------------------------------------------- the tests


def load_hub_config(**environ):
    """deploy/jupyterhub_config.py loaded as JupyterHub loads it, under the given MM_* variables."""
    from traitlets.config.loader import PyFileConfigLoader

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("MM_")}
    os.environ.update(environ)
    try:
        return PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()
    finally:
        for key in environ:
            os.environ.pop(key, None)
        os.environ.update(saved)


def grp_name_of(user):
    """The name of a user's primary group."""
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


def test_hub_config_for_a_real_class():
    """Without MM_* variables: PAM for the two course groups, the course's paths, a role per user."""
    config = load_hub_config()
    assert config.JupyterHub.authenticator_class == "pam"
    assert config.PAMAuthenticator.allowed_groups == {"mixed-models-students", "mixed-models-instructors"}
    assert config.JupyterHub.spawner_class == "localprocess"
    assert config.Spawner.cmd == [str(Path(sys.prefix) / "bin" / "python"), "-m", "jupyterhub.singleuser"]
    assert config.Spawner.environment["MM_EXCHANGE"] == "/srv/nbgrader/exchange"
    assert config.JupyterHub.db_url == "sqlite:////srv/jupyterhub/jupyterhub.sqlite"

    class Spawner:  # what the hook reads and writes
        def __init__(self, name):
            self.user, self.environment = type("User", (), {"name": name})(), {"PATH": "/usr/bin"}

    outsider = Spawner("nobody")
    with pytest.raises(ValueError, match="nobody is in neither mixed-models-students nor mixed-models-instructors"):
        config.Spawner.pre_spawn_hook(outsider)
    config = load_hub_config(MM_STUDENT_GROUP=grp_name_of("root"))  # root's group stands in for the students'
    student = Spawner("root")
    config.Spawner.pre_spawn_hook(student)
    assert student.environment["JUPYTER_CONFIG_PATH"] == f"{DEPLOY / 'jupyter' / 'student'}:{DEPLOY / 'jupyter' / 'common'}"
    assert student.environment["PATH"] == "/usr/bin"


def test_hub_config_for_tests_takes_one_password_from_the_course_groups():
    config = load_hub_config(MM_HUB_AUTH="shared-password", MM_HUB_PASSWORD="a-long-password",
                             MM_STUDENT_GROUP=grp_name_of("root"), MM_INSTRUCTOR_GROUP="no-such-group-here")
    assert config.JupyterHub.authenticator_class == "shared-password"
    assert config.SharedPasswordAuthenticator.user_password == "a-long-password"
    assert "root" in config.Authenticator.allowed_users


@pytest.mark.slow
@pytest.mark.hub
def test_course_cycle_on_jupyterhub(course_hub, chromium_page):
    hub, names, sandbox, env, password = course_hub
    teacher, alice, bob = names["instructor"], names["alice"], names["bob"]
    students = (alice, bob)
    exchange = Path(env["MM_EXCHANGE"])

    for user in names.values():
        hub.start_server(user)

    # roles: the formgrader answers on the instructor's server only
    status, _ = hub.request("GET", f"/user/{teacher}/formgrader/api/status", user=teacher)
    assert status == 200
    _, page = hub.request("GET", f"/user/{teacher}/formgrader/manage_assignments", user=teacher)
    assert "Manage Assignments" in page and "Traceback" not in page
    _, courses = hub.request("GET", f"/user/{teacher}/formgraders", user=teacher)
    assert [c["course_id"] for c in courses["value"]] == [COURSE], courses
    for student in students:
        for path in ("formgrader/api/status", "formgraders"):  # formgrader and course list: off
            status, _ = hub.request("GET", f"/user/{student}/{path}", user=student, expect=None)
            assert status == 404, f"/{path} must not be served to student {student} (HTTP {status})"
        _, page = hub.request("GET", f"/user/{student}/lab", user=student)
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
        assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                "@jupyter/nbgrader:course-list"} <= set(config["disabledExtensions"]), config["disabledExtensions"]
    # only the course's accounts get in
    status, _ = hub.request("POST", "/hub/api/users/intruder/tokens", expect=None,
                            data={"auth": {"username": "intruder", "password": password}})
    assert status == 403, f"an account outside the course's groups logged in (HTTP {status})"
    # ... and a student cannot reach another student's server
    status, _ = hub.request("GET", f"/user/{alice}/api/contents", user=bob, expect=None)
    assert status in (403, 404), f"{bob} reached {alice}'s server (HTTP {status})"

    # the instructor generates and releases the assignment (formgrader API)
    hub.formgrader(teacher, f"assignment/{ASSIGNMENT}/assign")
    hub.formgrader(teacher, f"assignment/{ASSIGNMENT}/release")
    inbound = exchange / COURSE / "inbound"
    assert oct(inbound.stat().st_mode & 0o777) == oct(0o733), "inbound/ must be write-only for students"

    # bob, through the API: list, fetch, answer two of three, submit
    listed = hub.assignments(bob)
    assert [(a["assignment_id"], a["status"]) for a in listed] == [(ASSIGNMENT, "released")]
    hub.assignments(bob, "fetch")
    nb = with_answers(read_notebook(hub, bob), PARTIAL)
    hub.request("PUT", f"/user/{bob}/api/contents/{notebook_path()}", user=bob,
                data={"type": "notebook", "format": "json", "content": nb})
    _, checked = hub.request("POST", f"/user/{bob}/assignments/validate", user=bob, form={"path": notebook_path()})
    assert checked["success"] and "failed" not in checked["value"], checked  # the visible tests pass
    after = hub.assignments(bob, "submit")
    assert any(a["status"] == "submitted" for a in after)

    # alice, through JupyterLab in Chromium
    shot = submit_in_lab(chromium_page, hub, alice, password)
    assert shot.stat().st_size > 10_000
    assert answers_in(read_notebook(hub, alice)) == RIGHT, "the answers typed in JupyterLab were not saved"

    # students are kept apart: no listing of the inbound folder, no reading of another's home,
    # and each student's assignment list shows their own submission only
    for student in students:
        peek = run("runuser", "-u", student, "--", "ls", inbound, check=False)
        assert peek.returncode != 0 and "ermission denied" in peek.stderr, f"{student} listed inbound/: {peek.stdout}"
        other = alice if student == bob else bob
        peek = run("runuser", "-u", student, "--", "cat", Path(pwd.getpwnam(other).pw_dir) / notebook_path(), check=False)
        assert peek.returncode != 0, f"{student} read {other}'s notebook"
        submitted = [s for a in hub.assignments(student) if a["status"] == "submitted" for s in a["submissions"]]
        assert submitted and {s["student_id"] for s in submitted} == {student}, submitted

    # the instructor collects, autogrades, generates and releases feedback
    hub.formgrader(teacher, f"assignment/{ASSIGNMENT}/collect")
    for student in students:
        hub.formgrader(teacher, f"submission/{ASSIGNMENT}/{student}/autograde")
    hub.formgrader(teacher, f"assignment/{ASSIGNMENT}/generate_feedback")
    hub.formgrader(teacher, f"assignment/{ASSIGNMENT}/release_feedback")

    # the students fetch their feedback: their own, with their own score
    scores = {alice: "3", bob: "2"}
    fetch_feedback_in_lab(chromium_page)  # alice in JupyterLab, bob through the API
    hub.assignments(bob, "fetch_feedback")
    for student in students:
        _, listing = hub.request("GET", f"/user/{student}/api/contents/{ASSIGNMENT}/feedback", user=student)
        folders = [f["path"] for f in listing["content"]]
        assert len(folders) == 1, f"{student}: feedback folders {folders}"
        feedback = urllib.parse.quote(f"{folders[0]}/{ASSIGNMENT}.html")
        _, model = hub.request("GET", f"/user/{student}/api/contents/{feedback}?content=1", user=student)
        text = html.unescape(re.sub(r"<[^>]+>", "", model["content"]))  # the page as read
        assert re.search(rf"Score:\s*{scores[student]}(\.0)?\s*/\s*3", text), f"{student}'s feedback: score missing"
        own = 'q2 = "d"' if student == alice else 'q2 = "a"'
        assert own in text, f"{student}'s feedback shows another answer"

    # exported grades: 3/3 and 2/3
    course_dir = Path(pwd.getpwnam(teacher).pw_dir) / COURSE
    user_bin = Path(env["MM_USER_VENV"]) / "bin"
    export = run("runuser", "-u", teacher, "--", "env", f"PATH={user_bin}:/usr/bin:/bin",
                 f"HOME={pwd.getpwnam(teacher).pw_dir}", user_bin / "nbgrader", "export",
                 "--to=grades.csv", cwd=course_dir, env=env)
    rows = list(csv.DictReader(io.StringIO((course_dir / "grades.csv").read_text())))
    grades = {r["student_id"]: (float(r["score"]), float(r["max_score"])) for r in rows if r["assignment"] == ASSIGNMENT}
    assert grades == {alice: (3.0, 3.0), bob: (2.0, 3.0)}, f"exported grades {grades}\n{export.stderr[-2000:]}"


# ---------------------------------------------------------------------------- grading a class in parallel


def load_grade_class():
    import importlib.util

    spec = importlib.util.spec_from_file_location("grade_class", DEPLOY / "grade_class.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_parallel_grading_gives_the_sequential_grades(tmp_path):
    """deploy/grade_class.py --jobs 2: shard gradebooks merged back give what one nbgrader gives,
    and the merged gradebook still serves feedback."""
    grade_class = load_grade_class()
    if not grade_class.NBGRADER.exists():
        pytest.skip(f"nbgrader is not installed in {grade_class.NBGRADER.parent}")
    base = grade_class.new_course(tmp_path / "base", [ASSIGNMENT])
    kinds = grade_class.synthetic_class(base, [ASSIGNMENT], n_students=5, seed=7)
    grades = {}
    for jobs in (1, 2):
        course = tmp_path / f"jobs{jobs}"
        shutil.copytree(base, course)
        grade_class.grade(course, [ASSIGNMENT], jobs=jobs)
        grades[jobs] = grade_class.export(course)
    assert grades[1] == grades[2]
    assert len(grades[2]) == 5 and {"full", "blank"} <= set(kinds.values()), kinds
    for (student, assignment), kind in kinds.items():
        score, max_score = grades[2][student, assignment]
        assert max_score == 3
        assert score == {"full": 3, "blank": 0}.get(kind, score), (student, kind, score)
    grade_class.nbgrader("generate_feedback", ASSIGNMENT, cwd=tmp_path / "jobs2")
    assert len(list((tmp_path / "jobs2" / "feedback").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.html"))) == 5
