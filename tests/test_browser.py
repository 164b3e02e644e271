"""The course as a student meets it: JupyterLab in a real (headless) Chromium.

Starts JupyterLab on localhost with a random token and a temporary root holding a
copy of the shrinkage chapter, opens it in Debian's chromium through Playwright,
runs all cells, moves the first slider with the keyboard and checks that the
widget's output changes.  A screenshot goes to build/screenshots/shrinkage_widget.png.

Set BROWSER_TEST_NOTEBOOK=/path/to/notebook.ipynb to drive another notebook.
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the browser fixture skips with the reason
    PlaywrightTimeout = TimeoutError

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = Path(os.environ.get("BROWSER_TEST_NOTEBOOK", ROOT / "chapters" / "06_blups_shrinkage.ipynb"))
SCREENSHOTS = ROOT / "build" / "screenshots"
RUN_TIMEOUT_MS = 180_000  # running the whole chapter and rendering its widget
CHANGE_TIMEOUT_MS = 60_000  # the output reacting to a slider move

# JupyterLab user settings: no news/update toasts, every cell attached to the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

# Everything a slider move may change, excluding the slider itself: text of Output
# and HTML widgets, plus images (matplotlib figures are <img> with a data: URL).
OUTPUT_SIGNATURE_JS = """(cell) => {
    const parts = [];
    for (const el of cell.querySelectorAll('.widget-output, .widget-html-content, .widget-htmlmath-content')) {
        parts.push(el.innerText);
        for (const img of el.querySelectorAll('img')) parts.push(img.src);
        for (const svg of el.querySelectorAll('svg')) parts.push(svg.outerHTML);
    }
    return parts.join('\\n').trim();
}"""


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_lab_settings(settings_dir):
    """Write LAB_SETTINGS as JupyterLab user-settings files."""
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def wait_for_server(url, proc, log, timeout=90):
    """Poll the server's status API until it answers; fail with the server log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyter_lab(tmp_path):
    """JupyterLab serving a temporary root with a copy of the notebook; yields (url of the notebook, log path)."""
    if not NOTEBOOK.is_file():
        pytest.skip(f"{NOTEBOOK.relative_to(ROOT) if NOTEBOOK.is_relative_to(ROOT) else NOTEBOOK} does not exist yet")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    write_lab_settings(tmp_path / "settings")
    token, port = secrets.token_hex(16), free_port()
    env = dict(os.environ,
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = tmp_path / "jupyter.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
           f"--ServerApp.token={token}", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=None"]
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def browser():
    """Debian's headless chromium driven by Playwright; skips where either is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"playwright is not importable ({exc}); pip install playwright")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def run_all_cells(page, attempts=3):
    """Run > Run All Cells through JupyterLab's menu bar, retried until a cell prompt shows it ran.

    Right after the page loads, the kernel may still be connecting and the first
    request can be lost; a prompt turning into [*] or [1] proves execution started.
    """
    started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))"
    for attempt in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()
        try:
            page.wait_for_function(started, timeout=20_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    pytest.fail(f"Run All Cells did not start execution after {attempts} attempts")


def move_slider(page, handle, steps=5):
    """Move a noUiSlider handle with the keyboard, downwards if it is already at its maximum."""
    handle.focus()
    key = "ArrowLeft" if handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax") else "ArrowRight"
    for _ in range(steps):
        page.keyboard.press(key)
        page.wait_for_timeout(100)


@pytest.mark.slow
@pytest.mark.browser
def test_slider_changes_widget_output_in_jupyterlab(jupyter_lab, browser):
    url, log = jupyter_lab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=60_000)  # kernel connected
        run_all_cells(page)

        slider = page.locator(".jp-OutputArea .widget-slider").first
        slider.wait_for(state="attached", timeout=RUN_TIMEOUT_MS)
        cell = slider.locator("xpath=ancestor::div[contains(@class, 'jp-Cell')][1]")
        cell.scroll_into_view_if_needed()
        page.wait_for_function(f"(cell) => ({OUTPUT_SIGNATURE_JS})(cell).length > 0",
                               arg=cell.element_handle(), timeout=RUN_TIMEOUT_MS)
        before = cell.evaluate(OUTPUT_SIGNATURE_JS)

        move_slider(page, slider.locator(".noUi-handle").first)
        # a redraw may pass through an empty output: wait for a new, non-empty one
        page.wait_for_function(f"([cell, before]) => {{ const s = ({OUTPUT_SIGNATURE_JS})(cell); "
                               "return s.length > 0 && s !== before; }",
                               arg=[cell.element_handle(), before], timeout=CHANGE_TIMEOUT_MS)
        after = cell.evaluate(OUTPUT_SIGNATURE_JS)
        page.wait_for_timeout(500)  # let the redrawn output settle before the picture
        cell.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "shrinkage_widget.png"))
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "shrinkage_widget_failure.png"))
        print(f"jupyter log (tail):\n{log.read_text()[-3000:]}")
        raise
    finally:
        page.close()
    assert after and after != before
