"""Formulas without an intercept code factors as R does: ``school * class - 1``.

R gives the first factor one indicator column per level and keeps contrasts for every later
factor (``batch * cask - 1``: ten batches, then ``caskb``, ``caskc`` and their interactions).
Fixture: ``tests/fixtures/formula/no_intercept_coding.json``, written by
``no_intercept_coding.R`` beside it (R 4.2.2, ``model.matrix`` on lme4's Pastes).
"""
import json
import pathlib

import numpy as np
import pytest

import mixedlite as ml
from mixedlite.core.formula import model_matrix

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "formula" / "no_intercept_coding.json"
REFERENCE = json.loads(FIXTURE.read_text())["model_matrix"]


@pytest.mark.parametrize("rhs", sorted(REFERENCE))
def test_model_matrix_without_intercept_matches_r(rhs):
    ref = REFERENCE[rhs]
    X = model_matrix(rhs, ml.load_dataset("Pastes"))
    assert list(X.columns) == ref["columns"]
    np.testing.assert_allclose(X.to_numpy(), np.array(ref["values"], dtype=float), rtol=1e-12, atol=0)


def test_lmer_keeps_every_column_of_a_full_rank_no_intercept_design():
    pastes = ml.load_dataset("Pastes")
    m = ml.lmer("strength ~ batch + cask - 1 + (1 | sample)", pastes)
    assert list(m.fixef().index) == REFERENCE["batch + cask - 1"]["columns"]
