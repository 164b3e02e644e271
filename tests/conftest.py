"""Shared fixtures: chapters executed once per session, and helpers to read their outputs.

Chapter-specific tests ask for the executed notebook and search its outputs::

    from conftest import cell_outputs_text

    @pytest.mark.slow
    def test_clinic_reml_criterion(executed_chapter):
        nb = executed_chapter("03_icc")
        assert "REML criterion at convergence: 1987.4" in cell_outputs_text(nb)

Each chapter runs at most once per session in a fresh ``python3`` kernel, with
``chapters/`` as working directory; the executed copy is written to
``build/test-chapters/`` and its wall time is printed in the closing summary.
"""
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
EXECUTED = ROOT / "build" / "test-chapters"
CELL_TIMEOUT = 120  # seconds per cell


@dataclass
class ChapterRun:
    """One execution of a chapter: the executed notebook, its wall time and the error (or None)."""
    path: Path
    nb: object
    seconds: float
    error: str | None


_RUNS: dict[str, ChapterRun] = {}


def chapter_path(name):
    """Resolve '03_icc', '03_icc.ipynb' or a unique prefix such as '03' to a file in chapters/."""
    stem = Path(name).name.removesuffix(".ipynb")
    exact = CHAPTERS / f"{stem}.ipynb"
    if exact.is_file():
        return exact
    matches = sorted(CHAPTERS.glob(f"{stem}*.ipynb"))
    if len(matches) != 1:
        found = ", ".join(p.name for p in sorted(CHAPTERS.glob("*.ipynb"))) or "none"
        raise FileNotFoundError(f"no unique chapter matching {name!r} in chapters/ (chapters: {found})")
    return matches[0]


def run_chapter(name):
    """Execute a chapter once per session (cached) and return its ChapterRun."""
    import nbformat
    from nbclient import NotebookClient

    path = chapter_path(name)
    if path.name not in _RUNS:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(CHAPTERS)}})
        error = None
        start = time.perf_counter()
        try:
            client.execute()
        except Exception as exc:  # CellExecutionError, CellTimeoutError, DeadKernelError
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        EXECUTED.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, EXECUTED / path.name)
        _RUNS[path.name] = ChapterRun(path, nb, seconds, error)
    return _RUNS[path.name]


def cell_outputs_text(nb):
    """All text a notebook printed: stream output, text/plain results and error tracebacks, joined by newlines."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
            elif out.get("output_type") == "error":
                parts.append("\n".join(out.get("traceback", [])))
    return "\n".join(parts)


@pytest.fixture(scope="session")
def executed_chapter():
    """Factory: executed_chapter(name) -> executed nbformat notebook.

    Fails the test if the chapter raised; skips only while chapters/ is still empty.
    """
    def get(name):
        if not any(CHAPTERS.glob("*.ipynb")):
            pytest.skip("chapters/ has no notebooks yet")
        run = run_chapter(name)  # a name that matches no chapter raises FileNotFoundError
        if run.error:
            pytest.fail(f"{run.path.name} did not execute cleanly: {run.error}", pytrace=False)
        return run.nb
    return get


def pytest_terminal_summary(terminalreporter):
    """Print how long each chapter took to execute, and the differential suite's summary, if they ran."""
    differential = sys.modules.get("differential_cases")  # tests/differential/ (one conftest for the tree:
    if differential is not None:                           # test modules import this one by name)
        differential.write_summary(terminalreporter)
    if not _RUNS:
        return
    terminalreporter.section("chapter execution times")
    for name, run in sorted(_RUNS.items()):
        status = "ok" if run.error is None else "ERROR"
        terminalreporter.write_line(f"{name:40s} {run.seconds:6.1f} s  {status}")
