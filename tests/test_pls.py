"""The blocked penalized least squares against a direct dense computation.

For random theta, the profiled criteria, beta, b and the conditional variances from the blocked
Cholesky must equal those from the textbook formulas with dense matrices:
``M = Lambda' Z' Z Lambda + I``, ``beta`` and ``u`` from the joint normal equations (mixedlite.core.reference).
Designs cover a scalar leading term, a vector leading term, vector terms after the first, and
the sparse path used for large models.
"""
import numpy as np
import pandas as pd
import pytest

import mixedlite.core.lmm as lmm
from mixedlite.core import reference
from mixedlite.core.design import Design


def dense_reference(pls, design, theta, REML):
    """mixedlite.core.reference's dense computation on the same X, Z and y: objective, beta, b and Lambda M^-1 Lambda'."""
    Lam = reference.relative_covariance_factor(design, theta)
    fit = reference.penalized_least_squares(pls.X, pls.Z.toarray(), Lam, pls.y)
    return fit.reml_criterion if REML else fit.deviance, fit.beta, fit.b, Lam @ fit.M_inv @ Lam.T


def simulated_data(seed=1):
    rng = np.random.default_rng(seed)
    n = 240
    d = pd.DataFrame({"g": rng.integers(0, 30, n).astype(str), "h": rng.integers(0, 8, n).astype(str),
                      "x": rng.normal(size=n), "z": rng.normal(size=n)})
    d["y"] = 1 + 0.5 * d.x + rng.normal(size=n) + d.g.map(dict(zip(map(str, range(30)), rng.normal(size=30))))
    return d


FORMULAS = ["y ~ x + (1 | g)", "y ~ x + (x | g)", "y ~ x + (1 | g) + (1 | h)",
            "y ~ x + (x | g) + (z | h)", "y ~ x + (1 | g) + (x | h) + (0 + z | g)"]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("formula", FORMULAS)
def test_blocked_factorisation_matches_dense_formulas(formula, sparse, monkeypatch):
    if sparse:
        monkeypatch.setattr("mixedlite.core.pls.DENSE_LIMIT", 0)
    d = simulated_data()
    design = Design(formula, d)
    pls = lmm.ProfiledLeastSquares(design, d.loc[design.data.index, "y"])
    rng = np.random.default_rng(7)
    for _ in range(3):
        theta = np.abs(design.theta_start) * rng.uniform(0.3, 1.5, len(design.theta_start)) + \
            (design.theta_lower != 0) * rng.normal(scale=0.3, size=len(design.theta_start))
        for REML in (True, False):
            objective, beta, b, cond = dense_reference(pls, design, theta, REML)
            assert pls.objective(theta, REML) == pytest.approx(objective, rel=1e-10)
            solution = pls.solve_at(theta, REML)
            np.testing.assert_allclose(solution.beta, beta, rtol=1e-8)
            np.testing.assert_allclose(solution.b, b, rtol=1e-7, atol=1e-9)
        start = 0
        for term, block in zip(design.terms, pls.conditional_variances_at(theta)):
            idx = start + np.arange(term.q).reshape(term.n_levels, term.p)
            np.testing.assert_allclose(block, cond[idx[:, :, None], idx[:, None, :]], rtol=1e-7, atol=1e-10)
            start += term.q


def test_refit_with_new_response_reuses_structure():
    d = simulated_data()
    design = Design("y ~ x + (x | g) + (1 | h)", d)
    pls = lmm.ProfiledLeastSquares(design, d.y)
    y_new = d.y.to_numpy() + np.random.default_rng(3).normal(size=len(d))
    theta = design.theta_start * 0.7
    assert pls.with_response(y_new).objective(theta) == pytest.approx(
        lmm.ProfiledLeastSquares(design, y_new).objective(theta), rel=1e-12)
