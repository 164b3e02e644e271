"""Build the course: execute every chapter, write HTML, regenerate the student exercises.

Usage (from the repository root, normally through ``make course``)::

    python scripts/build_course.py [--timeout 120] [--skip-nbgrader] [--skip-book] [chapters/03_icc.ipynb ...]

For each ``chapters/*.ipynb`` the notebook is executed top to bottom in a fresh
``python3`` kernel with ``chapters/`` as working directory, and written to
``build/chapters/`` both as an executed ``.ipynb`` and as ``.html``, so a student
can open either (the pages load MathJax from ``build/chapters/mathjax/``: no internet
needed).  Then ``nbgrader generate_assignment --force`` turns every
instructor notebook in ``solutions/<assignment>/`` into its student version in
``exercises/<assignment>/`` (configuration in ``nbgrader_config.py``).  Last, the
course's site is built from the executed chapters into ``build/book/``
(``scripts/build_book.py``, Jupyter Book).

The exit status is 1 if any chapter, nbgrader or the site fails, 0 otherwise.
"""
import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from traitlets.config import Config

import build_book
from notebook_client import notebook_client

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
SOLUTIONS = ROOT / "solutions"
BUILD = ROOT / "build" / "chapters"
TEMPLATES = Path(__file__).resolve().parent / "templates"  # offline/: JupyterLab's page without CDN scripts


def kernel_config(socket_dir):
    """Kernels talk over IPC sockets in ``socket_dir`` (an absolute path: the kernel runs in chapters/).

    Over TCP, ipykernel warns in the build log that the traffic is not encrypted.
    """
    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(socket_dir) / "kernel")}})


def execute_chapter(path, out_dir, timeout=120):
    """Execute one notebook in a clean kernel; write executed .ipynb and .html into out_dir.

    Returns (seconds, error message or None).  The executed notebook is written
    even when a cell fails, so the error can be read in context.
    """
    nb = nbformat.read(path, as_version=4)
    error = None
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
            client = notebook_client(nb, timeout=timeout, kernel_name="python3", config=kernel_config(sockets),
                                     resources={"metadata": {"path": str(path.parent)}})
            client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
    except Exception as exc:  # timeouts, dead kernels
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    page = copy.deepcopy(nb)
    build_book.freeze_widgets(page, path)  # widgets' saved state, not ipywidgets' JavaScript from a CDN
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)],
                            mathjax_url=f"mathjax/MathJax.js?config={build_book.MATHJAX_CONFIG}")
    html, _ = exporter.from_notebook_node(page)
    (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return seconds, error


def generate_exercises():
    """Run nbgrader generate_assignment for every assignment folder in solutions/.

    Returns the number of failures.  Zero assignments is fine (nothing to release yet).
    """
    assignments = sorted(p.name for p in SOLUTIONS.iterdir()
                         if p.is_dir() and not p.name.startswith(".")) if SOLUTIONS.is_dir() else []
    if not assignments:
        print("nbgrader: no assignments in solutions/, nothing to generate")
        return 0
    bin_dir = Path(sys.executable).parent  # nbgrader runs `alembic` from PATH when it creates the gradebook
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    failures = 0
    for name in assignments:
        cmd = [str(bin_dir / "nbgrader"), "generate_assignment", name, "--create", "--force"]
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        print(f"nbgrader generate_assignment {name}: {status}")
        if result.returncode != 0:
            print(result.stdout + result.stderr)
            failures += 1
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters to build (default: all)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds allowed per cell")
    parser.add_argument("--skip-nbgrader", action="store_true", help="do not regenerate exercises/")
    parser.add_argument("--skip-book", action="store_true", help="do not build the site in build/book/")
    args = parser.parse_args(argv)

    notebooks = [p.resolve() for p in args.notebooks] or sorted(CHAPTERS.glob("*.ipynb"))
    if not notebooks:
        print("no chapters found in chapters/")
    failures = 0
    total = time.perf_counter()
    for path in notebooks:
        seconds, error = execute_chapter(path, BUILD, timeout=args.timeout)
        print(f"{path.name:40s} {seconds:6.1f} s  {'ok' if error is None else 'ERROR: ' + error}", flush=True)
        failures += error is not None
    if notebooks:
        build_book.copy_mathjax(BUILD / "mathjax")
        print(f"{len(notebooks)} chapters in {time.perf_counter() - total:.1f} s -> "
              f"{BUILD.relative_to(ROOT)}/ (executed .ipynb and .html)")
    if not args.skip_nbgrader:
        failures += generate_exercises()
    if not args.skip_book and not failures:
        try:  # after nbgrader: the exercises page links the fresh student notebooks
            build_book.build()
        except build_book.BookError as exc:
            print(f"book: FAILED: {exc}")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
