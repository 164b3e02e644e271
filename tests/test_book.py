"""The course's site (Jupyter Book, scripts/build_book.py): its parts, and the built site in headless Chromium.

The quick tests check the generated parts against chapters/ (table of contents, chapter map) and
the static copy of a widget.  The browser tests build the site once per session into
build/test-book/ from executed chapters -- the copies of ``make course`` in build/chapters/ where
they are newer than the chapter, otherwise this session's own runs (conftest.run_chapter, shared
with test_notebooks.py: no chapter executes twice) -- then open it from disk (file://) and served
by ``python -m http.server``.  Every request that leaves the site is blocked and makes the test
fail: equations, search and figures must work offline.  Screenshots go to build/screenshots/.
"""
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import CHAPTERS, ROOT, run_chapter

sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402  (scripts/ is not a package)

CHROMIUM = Path("/usr/bin/chromium")
EXECUTED_BY_MAKE_COURSE = ROOT / "build" / "chapters"
SITE = ROOT / "build" / "test-book"
SCREENSHOTS = ROOT / "build" / "screenshots"
CHAPTER_FILES = sorted(CHAPTERS.glob("*.ipynb"))
TIMEOUT_MS = 30_000


# ---------------------------------------------------------------------------- generated parts

def test_table_of_contents_lists_every_chapter_in_folder_order(tmp_path):
    build_book.write_toc(tmp_path, build_book.chapter_files())
    listed = re.findall(r"^\s+- file: (\S+)$", (tmp_path / "_toc.yml").read_text(), re.M)
    assert listed[:len(CHAPTER_FILES)] == [p.stem for p in CHAPTER_FILES]
    assert listed[len(CHAPTER_FILES):] == ["exercises", "bibliography"]


def test_chapter_map_has_each_chapter_with_its_prerequisites():
    table = build_book.chapter_map(CHAPTER_FILES)
    for path in CHAPTER_FILES:
        row = next((line for line in table.splitlines() if f"]({path.name})" in line), None)
        assert row, f"{path.name} missing from the chapter map"
        title, prerequisites = build_book.chapter_title_and_prerequisites(nbformat.read(path, as_version=4))
        assert title and title.replace("|", "/") in row
        assert prerequisites, f"{path.name} states no '**Prerequisites.**' paragraph"


def saved_widget_notebook():
    """A notebook as nbclient saves it: a slider app (VBox of a slider, HTML, Output) and a tqdm bar."""
    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
                "state": state}
    state = {
        "app": model("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_text", "IPY_MODEL_out"]),
        "slider": model("FloatSliderModel", description="tau", value=5.0, min=0.0, max=15.0),
        "text": model("HTMLModel", value="<b>k = 0.31</b>", description=""),
        "out": model("OutputModel", outputs=[{"output_type": "display_data", "metadata": {},
                                              "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}]),
        "bar": model("HBoxModel", children=["IPY_MODEL_barlabel", "IPY_MODEL_progress"]),
        "barlabel": model("HTMLModel", value="bootstrap: 100%", description=""),
        "progress": model("FloatProgressModel", value=300.0, max=300.0, description=""),
    }
    view = "application/vnd.jupyter.widget-view+json"
    cell = nbformat.v4.new_code_cell("app", outputs=[
        nbformat.v4.new_output("execute_result", data={view: {"model_id": "app"}, "text/plain": "VBox(...)"},
                               execution_count=1),
        nbformat.v4.new_output("display_data", data={view: {"model_id": "bar"}, "text/plain": "0%| | 0/300"}),
        nbformat.v4.new_output("stream", name="stderr", text="PBmodcomp:  40%|####      | 120/300 [00:01<00:02]\r"),
    ])
    question = nbformat.v4.new_code_cell("selfcheck.ask('06.1')", outputs=[
        nbformat.v4.new_output("display_data", data={view: {"model_id": "quiz"}, "text/plain": "Self-check 06.1",
                                                     "text/html": "<div>Self-check 06.1 <li>a. ...</li></div>"})])
    nb = nbformat.v4.new_notebook(cells=[cell, question])
    nb.metadata["widgets"] = {build_book.WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


def test_widget_becomes_its_saved_state_and_the_command_to_run_it():
    nb = saved_widget_notebook()
    frozen, dropped = build_book.freeze_widgets(nb, CHAPTERS / "06_blups_shrinkage.ipynb")
    assert (frozen, dropped) == (2, 2)
    assert "widgets" not in nb.metadata, "no widget state left for myst-nb to load ipywidgets' JavaScript for"
    note, text, figure = nb.cells[0].outputs
    assert "tau = 5.0" in note.data["text/html"]
    assert ".venv/bin/jupyter lab chapters/06_blups_shrinkage.ipynb" in note.data["text/html"]
    assert "running Python kernel" in note.data["text/html"]
    assert text.data["text/html"] == "<b>k = 0.31</b>"
    assert figure.data["image/png"] == "iVBORw0KGgo="
    (question,) = nb.cells[1].outputs
    assert set(question.data) == {"text/plain", "text/html"}, "a widget's own HTML form is kept, its view dropped"


# ---------------------------------------------------------------------------- the built site

def executed_chapters(folder):
    """Copy an executed version of every chapter into ``folder``: make course's if fresh, else run it here."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in CHAPTER_FILES:
        made = EXECUTED_BY_MAKE_COURSE / path.name
        if made.is_file() and made.stat().st_mtime >= path.stat().st_mtime:
            shutil.copy(made, folder / path.name)
            continue
        run = run_chapter(path.name)
        if run.error:
            pytest.fail(f"{path.name} did not execute cleanly, so the book cannot be built: {run.error}",
                        pytrace=False)
        nbformat.write(run.nb, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The site built once per session into build/test-book/; yields (folder, build seconds, build warnings)."""
    if not CHAPTER_FILES:
        pytest.skip("chapters/ has no notebooks yet")
    pytest.importorskip("jupyter_book", reason="Jupyter Book is not installed: pip install -e '.[course]'")
    executed = executed_chapters(tmp_path_factory.mktemp("executed-chapters"))
    seconds, warnings = build_book.build(executed=executed, out=SITE)
    return SITE, seconds, warnings


@pytest.fixture(scope="session")
def site_server(built_site):
    """``python -m http.server`` serving the built site on a free local port; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(built_site[0])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "index.html", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("python -m http.server did not serve the site within 30 s")
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless chromium driven by Playwright; skips where either is missing.

    Module-scoped: a running sync Playwright owns the thread's event loop, and the other browser
    tests (test_browser.py, test_hub.py) start their own after this module has finished."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not importable; pip install playwright")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def offline_page(browser, site_prefix):
    """A new page whose requests outside ``site_prefix`` are blocked and recorded in ``page.outside``."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.outside = []

    def route(r):
        if r.request.url.startswith((site_prefix, "data:", "blob:")):
            r.continue_()
        else:
            page.outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page


def wait_for_mathjax(page):
    """Wait until MathJax 2 has typeset the page (its queue is empty and it produced output)."""
    page.wait_for_function(
        "() => window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending === 0"
        " && document.querySelectorAll('.MathJax, .MathJax_Display').length > 0", timeout=TIMEOUT_MS)


def heading(page):
    return page.locator("article h1").first.inner_text()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("how", ["file", "http"])
def test_site_navigation_search_and_equations_offline(how, built_site, chromium, request):
    folder, seconds, warnings = built_site
    if how == "file":
        base = folder.resolve().as_uri() + "/"
    else:
        base = request.getfixturevalue("site_server")
    print(f"\nbook built in {seconds:.1f} s; {len(warnings)} build warnings")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = offline_page(chromium, base)
    try:
        page.goto(base + "index.html")
        assert "Mixed-effects models in Python" in heading(page)
        assert page.locator("article table").filter(has_text="prerequisites").count() == 1, "front page: chapter map"

        # the sidebar, from the front page to chapter 6
        page.locator("nav.bd-docs-nav a", has_text=re.compile(r"^\s*Chapter 6\b")).first.click()
        page.wait_for_url(re.compile(r"06_blups_shrinkage\.html"), timeout=TIMEOUT_MS)
        assert heading(page).startswith("Chapter 6")

        # an equation rendered: MathJax output present, no TeX source left in the text
        wait_for_mathjax(page)
        text = page.locator("article").inner_text()
        assert "$$" not in text and "\\(" not in text and "\\[" not in text
        assert page.locator(".MathJax .merror, .MathJax_Error").count() == 0, "MathJax reported a TeX error"
        box = page.locator(".MathJax").first.bounding_box()
        assert box and box["width"] > 5 and box["height"] > 5
        page.screenshot(path=str(SCREENSHOTS / f"book_chapter6_{how}.png"))

        # the slider app: its saved state and the command that starts a kernel
        note = page.locator(".widget-static-note").first
        note.scroll_into_view_if_needed()
        assert "jupyter lab chapters/06_blups_shrinkage.ipynb" in note.inner_text()
        assert page.locator("article img").count() > 0, "figures missing"
        page.screenshot(path=str(SCREENSHOTS / f"book_widget_{how}.png"))

        # the next-page link to chapter 7
        page.locator("a.right-next").first.click()
        page.wait_for_url(re.compile(r"07_convergence\.html"), timeout=TIMEOUT_MS)
        assert heading(page).startswith("Chapter 7")

        # search for "shrinkage": chapter 6 first
        page.locator("button.search-button-field, button.search-button").first.click()
        search = page.locator("input[name='q']:visible").first
        search.fill("shrinkage")
        search.press("Enter")
        page.wait_for_url(re.compile(r"search\.html\?q=shrinkage"), timeout=TIMEOUT_MS)
        first = page.locator("#search-results li a").first
        first.wait_for(timeout=TIMEOUT_MS)
        assert "06_blups_shrinkage" in first.get_attribute("href"), \
            f"first search result is {first.inner_text()!r}, not chapter 6"
        page.screenshot(path=str(SCREENSHOTS / f"book_search_{how}.png"))
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / f"book_failure_{how}.png"))
        if page.outside:
            print(f"blocked requests outside the site: {sorted(set(page.outside))[:10]}")
        raise
    finally:
        page.close()
    assert not page.outside, f"the site asked for resources outside itself: {sorted(set(page.outside))[:10]}"


@pytest.mark.slow
def test_built_site_pages_hold_no_progress_bars_or_raw_widgets_and_download_the_chapters(built_site):
    folder, _, warnings = built_site
    for page in sorted(folder.glob("*.html")):
        html = page.read_text(encoding="utf-8")
        assert not build_book.PROGRESS_TEXT.search(html), f"{page.name} shows a progress bar"
        assert "application/vnd.jupyter.widget" not in html, f"{page.name} holds a widget needing JavaScript"
        assert "cdn.jsdelivr.net" not in html and "cdnjs.cloudflare.com" not in html, f"{page.name} loads from a CDN"
    for path in CHAPTER_FILES:
        downloaded = nbformat.read(folder / "_sources" / path.name, as_version=4)
        source = nbformat.read(path, as_version=4)
        assert [c.source for c in downloaded.cells] == [c.source for c in source.cells], \
            f"the download button of {path.stem} should give the chapter itself"
    sphinx_warnings = [w for w in warnings if "WARNING" in w or "ERROR" in w]
    assert not sphinx_warnings, "the book's build log has warnings:\n" + "\n".join(sphinx_warnings)


def test_bibliography_holds_the_references_the_course_cites():
    import pybtex.database

    entries = pybtex.database.parse_file(ROOT / "book" / "references.bib").entries
    found = {(entry.persons["author"][0].last_names[0], entry.fields["year"]) for entry in entries.values()}
    for first_author, year in [("Bates", "2015"), ("Barr", "2013"), ("Matuschek", "2017"), ("Kenward", "1997"),
                               ("Satterthwaite", "1946"), ("Nakagawa", "2013"), ("Gelman", "2007")]:
        assert (first_author, year) in found, f"book/references.bib lacks {first_author} {year}"
