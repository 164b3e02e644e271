"""Every chapter executes top to bottom in a fresh kernel, without error, in under a minute.

The executed copies land in build/test-chapters/ (see conftest.run_chapter), where
chapter-specific tests read their outputs through the ``executed_chapter`` fixture.
"""
import pytest

from conftest import CHAPTERS, run_chapter

MAX_SECONDS = 60

CHAPTER_FILES = sorted(p.name for p in CHAPTERS.glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTER_FILES or [
    pytest.param(None, marks=pytest.mark.skip(reason="chapters/ has no notebooks yet"))])
def test_chapter_executes_cleanly_and_quickly(name, record_property):
    run = run_chapter(name)
    record_property("seconds", round(run.seconds, 1))
    assert run.error is None, f"{name} raised while executing:\n{run.error}"
    assert run.seconds <= MAX_SECONDS, (f"{name} took {run.seconds:.1f} s (limit {MAX_SECONDS} s); "
                                        f"slowest cells: {run.slowest_cells()}")
