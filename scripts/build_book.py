"""Build the course's site, a Jupyter Book, from the executed chapters into build/book/.

Usage (from the repository root; ``make course`` runs it after executing the chapters)::

    python scripts/build_book.py [--executed build/chapters] [--out build/book]

Jupyter Book 1.x, not 2.x: 2.x (mystmd) downloads its site template from the network at build
time and fails offline; 1.x is Sphinx with sphinx-book-theme, whose assets ship in the Python
packages.  The steps:

1. stage ``book/`` (configuration, front page, exercises, bibliography) in ``build/book-src/``
   with the executed copy of every ``chapters/*.ipynb``: the chapters/ listing *is* the table of
   contents, so a new chapter appears without editing anything;
2. in the staged copies, replace each widget by its saved initial state (control values, text,
   figures) and the command that starts a kernel, and put a "run this chapter" note under the
   chapter's opening cell;
3. fill in the front page's chapter map (titles and prerequisites read from the chapters) and
   the exercise list (read from ``solutions/`` and ``exercises/``);
4. copy MathJax 2 from jupyter-server-mathjax next to the pages (``_static/mathjax/``): no CDN;
5. ``jupyter-book build`` with execution off (nothing runs twice), then move the HTML to ``--out``
   and put the executed chapters behind the pages' download buttons (``_sources/``).
"""
import argparse
import html
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
BOOK = ROOT / "book"
EXECUTED = ROOT / "build" / "chapters"
OUT = ROOT / "build" / "book"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PROGRESS_MODELS = ("FloatProgressModel", "IntProgressModel")
PROGRESS_TEXT = re.compile(r"\d+%\|.*\|\s*\d+/\d+\s*\[")
CHAPTER_MAP_MARK = "<!-- chapter-map -->"
EXERCISE_LIST_MARK = "<!-- exercise-list -->"


class BookError(RuntimeError):
    """The site cannot be built: the message says why and what to run."""


MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,local/course"  # the ?config= of a page loading MathJax.js
MATHJAX_LOCAL_CONFIG = """\
MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
  messageStyle: "none"
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/course.js");
"""


def chapter_files():
    """The chapters, in reading order: the listing of chapters/*.ipynb, sorted by name."""
    return sorted(CHAPTERS.glob("*.ipynb"))


def run_command(chapter):
    """The shell command that opens a chapter in JupyterLab from the repository root."""
    return f".venv/bin/jupyter lab chapters/{chapter.name}"


# ---------------------------------------------------------------------------- widgets

def widget_snapshot(model_id, state):
    """Walk a saved widget tree from ``model_id``: (control lines, outputs, whether it is a progress bar).

    Control lines read "description = value" (sliders and other inputs).  Outputs are nbformat
    outputs that show the widget's initial state without JavaScript: the text of HTML widgets
    and what Output widgets displayed (figures, tables).
    """
    controls, outputs, progress = [], [], False

    def walk(mid):
        nonlocal progress
        model = state.get(mid)
        if model is None:
            return
        name, values = model.get("model_name", ""), model.get("state", {})
        if name in ("HTMLModel", "HTMLMathModel", "LabelModel"):
            outputs.append(nbformat.v4.new_output("display_data", data={"text/html": str(values.get("value", ""))}))
        elif name == "OutputModel":
            outputs.extend(nbformat.from_dict(out) for out in values.get("outputs", []))
        elif name in PROGRESS_MODELS:
            progress = True
        elif "value" in values and values.get("description"):
            controls.append(f"{values['description']} = {values['value']}")
        for child in values.get("children", []):
            walk(str(child).removeprefix("IPY_MODEL_"))

    walk(model_id)
    return controls, outputs, progress


def kernel_note(chapter, controls):
    """An HTML note: this is the widget's initial state; the sliders need a kernel, started so."""
    shown = f" (initial values: {html.escape('; '.join(controls))})" if controls else ""
    return nbformat.v4.new_output("display_data", data={"text/html": (
        '<div class="admonition note widget-static-note"><p class="admonition-title">Interactive app</p>'
        f"<p>A static copy of the app as it first appears{shown}. Its controls need a running Python "
        f"kernel: from the repository root run <code>{html.escape(run_command(chapter))}</code>, "
        "then <em>Run &#9656; Run All Cells</em>.</p></div>")})


def is_progress_text(out):
    """A stream output that is a text progress bar (tqdm's ' 40%|####  | 120/300 [...]')."""
    return out.get("output_type") == "stream" and bool(PROGRESS_TEXT.search(str(out.get("text", ""))))


def freeze_widgets(nb, chapter):
    """Make ``nb``'s outputs static: returns (widgets frozen, progress bars dropped).

    A widget output that carries its own HTML form (a self-check question lists its options)
    keeps that form.  Any other widget view becomes a note (the controls need a kernel, and the
    command that starts one) followed by the widget's saved initial state.  Progress bars, widget
    or text, are dropped: on a saved page they only show a run that is over (or look stalled at 0%).
    """
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    frozen = dropped = 0
    for cell in nb.cells:
        new_outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if is_progress_text(out):
                dropped += 1
            elif view is None:
                new_outputs.append(out)
            elif "text/html" in out.get("data", {}):  # the widget's author wrote its static form
                out.data = {key: value for key, value in out.data.items() if key != WIDGET_VIEW}
                new_outputs.append(out)
                frozen += 1
            else:
                controls, shown, progress = widget_snapshot(view.get("model_id"), state)
                if progress and not controls:
                    dropped += 1
                else:
                    new_outputs += [kernel_note(chapter, controls), *shown]
                    frozen += 1
        if "outputs" in cell:
            cell.outputs = new_outputs
    return frozen, dropped


def run_this_chapter_cell(chapter):
    """A markdown cell: these are saved outputs; the command that opens the runnable notebook."""
    return nbformat.v4.new_markdown_cell(
        ":::{tip}\n"
        "This page shows the chapter's saved outputs. To run it yourself, change it and use its "
        f"widgets, open the notebook from the repository root with `{run_command(chapter)}` "
        "(set-up: [How to run the course](intro.md)), or download it with the button at the top.\n"
        ":::")


# ---------------------------------------------------------------------------- generated pages

def chapter_title_and_prerequisites(nb):
    """The first '# ' heading of a notebook and its '**Prerequisites.**' paragraph (or '')."""
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "")
    found = re.search(r"\*\*Prerequisites?\.?\*\*\.?\s*(.+?)(?:\n\s*\n|$)", text, re.S)
    prerequisites = " ".join(found.group(1).split()) if found else ""
    return title, prerequisites


def chapter_map(chapters):
    """A Markdown table: one row per chapter, its title linked, and its prerequisites."""
    rows = ["| chapter | prerequisites |", "|---|---|"]
    for path in chapters:
        title, prerequisites = chapter_title_and_prerequisites(nbformat.read(path, as_version=4))
        cell = (prerequisites or "none stated").replace("|", "\\|")
        rows.append(f"| [{(title or path.stem).replace('|', '/')}]({path.name}) | {cell} |")
    return "\n".join(rows)


def assignment_points(notebook):
    """Total points of an nbgrader notebook: the sum over its graded cells."""
    nb = nbformat.read(notebook, as_version=4)
    return sum(c.metadata.get("nbgrader", {}).get("points", 0) or 0 for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade"))


def exercise_list(staged_exercises):
    """A Markdown table of the assignments in solutions/: student notebook (a download), its title, points."""
    assignments = sorted(p for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if SOLUTIONS.is_dir() else []
    rows = ["| student notebook | what you do | points |", "|---|---|---|"]
    for folder in assignments:
        for solution in sorted(folder.glob("*.ipynb")):
            student = staged_exercises / folder.name / solution.name
            title, _ = chapter_title_and_prerequisites(nbformat.read(solution, as_version=4))
            link = (f"{{download}}`{solution.name} <exercises/{folder.name}/{solution.name}>`"
                    if student.is_file() else f"`{solution.name}` (run `make course` to generate it)")
            rows.append(f"| {link} | {title.replace('|', '/')} | {assignment_points(solution):g} |")
    return "\n".join(rows)


def write_toc(src, chapters):
    """_toc.yml: the front page, the chapters in folder order, then exercises and bibliography."""
    lines = ["format: jb-book", "root: intro", "parts:", "  - caption: Chapters", "    chapters:"]
    lines += [f"      - file: {path.stem}" for path in chapters]
    lines += ["  - caption: Practice and references", "    chapters:",
              "      - file: exercises", "      - file: bibliography"]
    (src / "_toc.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def fill_marker(path, marker, text):
    """Replace ``marker`` in the staged page ``path`` by ``text``; a missing marker is an error."""
    page = path.read_text(encoding="utf-8")
    if marker not in page:
        raise BookError(f"{path.name} lost its {marker} line: the build writes the generated table there")
    path.write_text(page.replace(marker, text), encoding="utf-8")


def copy_mathjax(dest):
    """Copy MathJax 2 from jupyter-server-mathjax's package data to ``dest``, with our config file.

    jupyter-server-mathjax ships only the STIX-Web fonts, while MathJax's combined configuration
    asks for the TeX fonts: ``config/local/course.js`` switches to STIX-Web.  Pages load MathJax
    as ``MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,local/course`` (or list both in
    ``mathjax2_config["config"]``).
    """
    try:
        import jupyter_server_mathjax
    except ImportError as exc:
        raise BookError(f"jupyter-server-mathjax is not installed ({exc}): pip install -e '.[course]'")
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", dest, dirs_exist_ok=True)
    (dest / "config" / "local").mkdir(parents=True, exist_ok=True)
    (dest / "config" / "local" / "course.js").write_text(MATHJAX_LOCAL_CONFIG, encoding="utf-8")
    return dest


# ---------------------------------------------------------------------------- build

def stage(src, executed):
    """Assemble the book's source in ``src``; returns (widgets frozen, chapter of each progress bar dropped)."""
    chapters = chapter_files()
    missing = [p.name for p in chapters if not (executed / p.name).is_file()]
    if missing:
        raise BookError(f"no executed copy of {', '.join(missing)} in {executed}: run `make course` first")
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(BOOK, src)
    if EXERCISES.is_dir():
        shutil.copytree(EXERCISES, src / "exercises", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    copy_mathjax(src / "_mathjax" / "mathjax")  # served as _static/mathjax/
    frozen, dropped = 0, []
    for chapter in chapters:
        nb = nbformat.read(executed / chapter.name, as_version=4)
        widgets, bars = freeze_widgets(nb, chapter)
        frozen += widgets
        dropped += [chapter.name] * bars
        nb.cells.insert(1, run_this_chapter_cell(chapter))
        nbformat.write(nb, src / chapter.name)
    write_toc(src, chapters)
    fill_marker(src / "intro.md", CHAPTER_MAP_MARK, chapter_map(chapters))
    fill_marker(src / "exercises.md", EXERCISE_LIST_MARK, exercise_list(src / "exercises"))
    return frozen, dropped


def build(executed=EXECUTED, out=OUT):
    """Stage and build the site into ``out``; returns (seconds, warning lines of the build log)."""
    start = time.perf_counter()
    work = out.parent / f"{out.name}-src"
    frozen, dropped = stage(work / "src", executed)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(work / "src"),
           "--path-output", str(work), "--builder", "html", "--quiet"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    log = result.stdout + result.stderr
    (work / "build.log").write_text(log, encoding="utf-8")
    if result.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {result.returncode}):\n{log[-6000:]}")
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(work / "_build" / "html", out)
    for chapter in chapter_files():  # the page's download button: the chapter as it ran, not the staged copy
        shutil.copy(executed / chapter.name, out / "_sources" / chapter.name)
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    warnings += [f"{name}: a progress bar in the saved outputs (left out of the page; pass progress=False)"
                 for name in dropped]
    seconds = time.perf_counter() - start
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"book: {len(chapter_files())} chapters, {frozen} widgets shown as their initial state, "
          f"{len(warnings)} warnings, built in {seconds:.1f} s -> {shown}/index.html")
    for line in warnings:
        print(f"  {line}")
    return seconds, warnings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, default=EXECUTED, help="folder of the executed chapters")
    parser.add_argument("--out", type=Path, default=OUT, help="folder the site is written to")
    args = parser.parse_args(argv)
    try:
        build(args.executed.resolve(), args.out.resolve())
    except BookError as exc:
        print(f"book: FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
