"""Reading the lme4 / lmerTest / pbkrtest reference fits copied into tests/fixtures."""
import json
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"


def load_reference(name):
    """The reference fit ``tests/fixtures/NAME.json`` as a dict (fields: shared README)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def as_list(x):
    """R writes a length-one vector as a scalar in JSON; make it a list again."""
    return x if isinstance(x, list) else [x]


def relative_error(actual, expected):
    """The largest relative difference |actual - expected| / |expected| over the elements."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))
