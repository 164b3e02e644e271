"""environment.yml (conda) and pyproject.toml (pip) must install the same packages."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def normalise(requirement):
    """Package name of a requirement string: lower case, '_'/'.' -> '-', pins and extras dropped."""
    name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_packages():
    """Dependencies plus the course and test extras of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    requirements = project["dependencies"] + extras.get("course", []) + extras.get("test", [])
    return {normalise(r) for r in requirements}


def environment_packages():
    """Conda and pip packages of environment.yml, without python, pip and the '-e .' install."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            names |= {normalise(r) for r in entry.get("pip", []) if not r.strip().startswith("-e")}
        else:
            names.add(normalise(entry))
    return names - {"python", "pip"}


def test_environment_yml_matches_pyproject():
    conda, pip = environment_packages(), pyproject_packages()
    assert conda == pip, (f"only in environment.yml: {sorted(conda - pip)}; "
                          f"only in pyproject.toml: {sorted(pip - conda)}")


def test_environment_installs_mixedlite_and_pins_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(e["pip"] for e in env["dependencies"] if isinstance(e, dict))
    assert "-e ." in pip
