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
Each run also keeps the client-side seconds of every code cell, so a slow chapter names its slow cell.
"""
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
EXECUTED = ROOT / "build" / "test-chapters"
sys.path.insert(0, str(ROOT / "scripts"))  # notebook_client: the chapters' client, shared with build_course
CELL_TIMEOUT = 120  # seconds per cell


@dataclass
class ChapterRun:
    """One execution of a chapter: the executed notebook, its wall time, the error (or None), and
    ``cell_seconds``: code cell index -> seconds the client spent on it, request sent to output complete."""
    path: Path
    nb: object
    seconds: float
    error: str | None
    cell_seconds: dict[int, float]

    def slowest_cells(self, count=3):
        """The slowest cells, as "cell 4: 120.2 s in the client, 0.4 s in the kernel".

        The kernel's share runs from its busy status to its execute_reply (kernel clocks, saved by
        nbclient in the cell's metadata); a client time far above it means the client sat waiting.
        """
        slowest = sorted(self.cell_seconds, key=self.cell_seconds.get, reverse=True)[:count]
        return "; ".join(f"cell {index}: {self.cell_seconds[index]:.1f} s in the client, "
                         f"{_kernel_seconds(self.nb.cells[index])} in the kernel" for index in slowest)


def _kernel_seconds(cell):
    stamps = cell.get("metadata", {}).get("execution", {})
    if "iopub.status.busy" not in stamps or "shell.execute_reply" not in stamps:
        return "? s"
    busy, reply = (datetime.fromisoformat(stamps[key].replace("Z", "+00:00"))
                   for key in ("iopub.status.busy", "shell.execute_reply"))
    return f"{(reply - busy).total_seconds():.1f} s"


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
    from notebook_client import notebook_client

    path = chapter_path(name)
    if path.name not in _RUNS:
        nb = nbformat.read(path, as_version=4)
        sent, cell_seconds = {}, {}

        def on_cell_execute(cell, cell_index):
            sent[cell_index] = time.perf_counter()

        def on_cell_executed(cell, cell_index, execute_reply):  # called for failing cells too
            cell_seconds[cell_index] = time.perf_counter() - sent[cell_index]

        client = notebook_client(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                 resources={"metadata": {"path": str(CHAPTERS)}},
                                 on_cell_execute=on_cell_execute, on_cell_executed=on_cell_executed)
        error = None
        start = time.perf_counter()
        try:
            client.execute()
        except Exception as exc:  # CellExecutionError, CellTimeoutError, DeadKernelError
            error = f"{type(exc).__name__}: {exc}"
        end = time.perf_counter()
        seconds = end - start
        for index in sent.keys() - cell_seconds.keys():  # a cell that timed out or lost its kernel
            cell_seconds[index] = end - sent[index]
        EXECUTED.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, EXECUTED / path.name)
        _RUNS[path.name] = ChapterRun(path, nb, seconds, error, cell_seconds)
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
