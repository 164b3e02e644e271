"""Repository hygiene: notebooks stored clean, every chapter in the README, every dataset bundled."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
DATASETS = ROOT / "mixedlite" / "datasets"
LOAD_DATASET = re.compile(r"""load_dataset\(\s*["']([^"']+)["']""")


def all_notebooks():
    """Every notebook of chapters/, solutions/ and exercises/ (recursively, without checkpoints)."""
    found = []
    for folder in ("chapters", "solutions", "exercises"):
        found += [p for p in sorted((ROOT / folder).rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    return found


def require(items, what):
    """Skip, with a reason, only when there is genuinely nothing to check yet."""
    if not items:
        pytest.skip(f"no {what} yet")
    return items


def test_notebooks_are_stored_without_outputs():
    problems = []
    for path in require(all_notebooks(), "notebooks in chapters/, solutions/ or exercises/"):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if cell.get("outputs"):
                problems.append(f"{path.relative_to(ROOT)} cell {i}: has outputs")
            if cell.get("execution_count") is not None:
                problems.append(f"{path.relative_to(ROOT)} cell {i}: execution_count {cell.execution_count}")
    assert not problems, "clear outputs before committing:\n" + "\n".join(problems)


def test_notebooks_use_the_python3_kernel():
    problems = []
    for path in require(all_notebooks(), "notebooks in chapters/, solutions/ or exercises/"):
        name = nbformat.read(path, as_version=4).metadata.get("kernelspec", {}).get("name")
        if name != "python3":
            problems.append(f"{path.relative_to(ROOT)}: kernelspec name {name!r}")
    assert not problems, "kernelspec must be python3 (else JupyterLab asks to select a kernel):\n" + "\n".join(problems)


def test_every_chapter_is_listed_in_the_readme():
    chapters = require(CHAPTERS, "chapters in chapters/")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in chapters if p.name not in readme]
    assert not missing, f"chapters missing from README.md: {missing}"


def test_every_chapter_the_readme_lists_exists():
    require(CHAPTERS, "chapters in chapters/")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\b(\d\d_\w+\.ipynb)", readme))
    missing = sorted(listed - {p.name for p in CHAPTERS})
    assert listed, "README.md lists no chapter files"
    assert not missing, f"README.md lists chapters that do not exist: {missing}"


def test_every_dataset_the_chapters_load_is_bundled():
    bundled = {p.name.removesuffix(".columns.json").lower() for p in DATASETS.glob("*.columns.json")}
    with_data = {p.name.split(".")[0].lower() for p in DATASETS.glob("*.csv*")}
    loaded = {}
    notebooks = require(CHAPTERS, "chapters in chapters/") + sorted((ROOT / "solutions").rglob("*.ipynb"))
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for name in LOAD_DATASET.findall(cell.source):
                    loaded.setdefault(name, path.relative_to(ROOT))
    assert loaded, "no chapter calls load_dataset(\"...\"); the regex or the chapters are wrong"
    missing = {n: str(p) for n, p in loaded.items() if n.lower() not in bundled or n.lower() not in with_data}
    assert not missing, f"datasets loaded but not bundled in mixedlite/datasets/ (NAME.columns.json + NAME.csv): {missing}"
