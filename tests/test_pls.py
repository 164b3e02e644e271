"""The blocked penalized least squares against a direct dense computation.

For random theta, the profiled criteria, beta, b and the conditional variances from the blocked
Cholesky must equal those from the textbook formulas with dense matrices:
``M = Lambda' Z' Z Lambda + I``, ``beta`` and ``u`` from the joint normal equations.
Designs cover a scalar leading term, a vector leading term, vector terms after the first, and
the sparse path used for large models.
"""
import numpy as np
import pandas as pd
import pytest
import scipy.linalg as la

import mixedlite.lmm as lmm
from mixedlite.design import Design


def dense_reference(pls, design, theta, REML):
    Z = pls.Z.toarray()
    X, y, n, p = pls.X, pls.y, pls.n, pls.p
    blocks = [np.kron(np.eye(t.n_levels), t.factor(th)) for t, th in zip(design.terms, design.split_theta(theta))]
    Lam = la.block_diag(*blocks)
    ZL = Z @ Lam
    q = ZL.shape[1]
    A = np.block([[ZL.T @ ZL + np.eye(q), ZL.T @ X], [X.T @ ZL, X.T @ X]])
    solution = np.linalg.solve(A, np.r_[ZL.T @ y, X.T @ y])
    u, beta = solution[:q], solution[q:]
    r2 = np.sum((y - X @ beta - ZL @ u) ** 2) + u @ u
    logdet_L = np.linalg.slogdet(ZL.T @ ZL + np.eye(q))[1]
    schur = A[q:, q:] - A[q:, :q] @ np.linalg.solve(A[:q, :q], A[:q, q:])
    logdet_RX = np.linalg.slogdet(schur)[1]
    if REML:
        objective = logdet_L + logdet_RX + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p)))
    else:
        objective = logdet_L + n * (1 + np.log(2 * np.pi * r2 / n))
    cond = Lam @ np.linalg.inv(ZL.T @ ZL + np.eye(q)) @ Lam.T
    return objective, beta, Lam @ u, cond


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
        monkeypatch.setattr(lmm, "DENSE_LIMIT", 0)
    d = simulated_data()
    design = Design(formula, d)
    pls = lmm.PenalizedLeastSquares(design, d.loc[design.data.index, "y"])
    rng = np.random.default_rng(7)
    for _ in range(3):
        theta = np.abs(design.theta_start) * rng.uniform(0.3, 1.5, len(design.theta_start)) + \
            (design.theta_lower != 0) * rng.normal(scale=0.3, size=len(design.theta_start))
        for REML in (True, False):
            objective, beta, b, cond = dense_reference(pls, design, theta, REML)
            assert pls.objective(theta, REML) == pytest.approx(objective, rel=1e-10)
            solution = pls.solve(theta, REML)
            np.testing.assert_allclose(solution["beta"], beta, rtol=1e-8)
            np.testing.assert_allclose(solution["b"], b, rtol=1e-7, atol=1e-9)
        start = 0
        for term, block in zip(design.terms, pls.conditional_variances(theta)):
            idx = start + np.arange(term.q).reshape(term.n_levels, term.p)
            np.testing.assert_allclose(block, cond[idx[:, :, None], idx[:, None, :]], rtol=1e-7, atol=1e-10)
            start += term.q


def test_refit_with_new_response_reuses_structure():
    d = simulated_data()
    design = Design("y ~ x + (x | g) + (1 | h)", d)
    pls = lmm.PenalizedLeastSquares(design, d.y)
    y_new = d.y.to_numpy() + np.random.default_rng(3).normal(size=len(d))
    theta = design.theta_start * 0.7
    assert pls.with_response(y_new).objective(theta) == pytest.approx(
        lmm.PenalizedLeastSquares(design, y_new).objective(theta), rel=1e-12)
