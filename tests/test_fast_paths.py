"""The shortcuts for speed give the numbers of the plain computation.

* A glmer design whose W'Z1 exceeds ``pls.DENSE_LIMIT`` entries forms its sandwich ``W'Z1 G Z1'W`` with a
  ``SandwichMap`` at every PIRLS step; it must give the dense numbers.
* An observation-level first term is eliminated from each PIRLS step (other terms reweighted by
  W / (1 + W (Z1 Lambda1)^2)); the Laplace deviance and the modes must be those of factoring every term.
* A Nelder-Mead restart that lowers the deviance by less than ``fitting.SAME_OPTIMUM`` ends the restarts.
* lmer's ``SandwichMap`` (InstEval's ``W'Z1 G Z1'W``) pairs each entry only with those below it for a
  scalar first term; it must give the lower triangle of the dense product, and its Schur complement
  ``D (W'W - W'Z1 G Z1'W) D + diag(d)`` that of the dense one.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedlite as ml
import mixedlite.core.fitting as fitting
import mixedlite.core.glmm as glmm
from mixedlite.core.design import Design
from mixedlite.core.families import get_family
from mixedlite.core.pls import SandwichMap
from mixedlite.core.pirls import PIRLS

OBSERVATION_LEVEL = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"


def grouseticks_pirls():
    design = Design(OBSERVATION_LEVEL, ml.load_dataset("grouseticks"))
    response = glmm.poisson_response(design.response(), None, "TICKS")
    return PIRLS(design, response, get_family("poisson"))


def vector_first_term():
    """(1 + x | g1) first (300 levels, two rows each, so p1 = 2), then (1 | g2): simulated Poisson counts."""
    rng = np.random.default_rng(2)
    n = 600
    data = pd.DataFrame({"g1": pd.Categorical(np.repeat(np.arange(300), 2)),
                         "g2": pd.Categorical(rng.integers(0, 100, n)), "x": rng.standard_normal(n)})
    data["y"] = rng.poisson(2.0, n)
    return Design("y ~ x + (1 + x | g1) + (1 | g2)", data), "y", np.array([0.8, 0.3, 0.5, 0.7])


def observation_level_first():
    design = Design(OBSERVATION_LEVEL, ml.load_dataset("grouseticks"))
    return design, "TICKS", np.array([0.54, 0.75, 0.53])


@pytest.mark.parametrize("make_design", [observation_level_first, vector_first_term])
def test_glmer_sandwich_map_gives_the_dense_numbers(make_design, monkeypatch):
    """Above ``DENSE_LIMIT`` entries, W'Z1 is sparse and its sandwich a ``SandwichMap`` re-formed at every
    PIRLS step: the Laplace deviance, the modes, beta and the conditional variances must be those of the
    dense products (grouseticks with the observation-level term factored, not eliminated: 403 levels first)."""
    design, name, theta = make_design()
    response = glmm.poisson_response(design.response(), None, name)
    eta0 = np.log(response.y + 0.5)
    results = []
    for limit in (10**12, 0):
        monkeypatch.setattr("mixedlite.core.pls.DENSE_LIMIT", limit)
        pirls = PIRLS(design, response, get_family("poisson"))
        pirls.reduced = None
        state = pirls.run(theta, None, eta0)
        assert (state.chol.products.sandwich is None) == (limit > 0)
        results.append((pirls.laplace(state), state.u, state.beta, pirls.conditional_variances_at(state)))
    (dense, u, beta, cond), (mapped, u_map, beta_map, cond_map) = results
    assert mapped == pytest.approx(dense, rel=1e-12)
    np.testing.assert_allclose(u_map, u, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(beta_map, beta, rtol=1e-10)
    for block, block_map in zip(cond, cond_map):
        np.testing.assert_allclose(block_map, block, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("with_beta", [False, True])
def test_eliminating_the_observation_level_term_gives_the_blockwise_numbers(with_beta):
    """PIRLS solves grouseticks' other terms with the weights W / (1 + W (Z1 Lambda1)^2) and recovers
    u1 per observation; the Laplace deviance, the modes and beta are those of factoring all terms."""
    eliminated = grouseticks_pirls()
    blockwise = grouseticks_pirls()
    assert eliminated.reduced is not None
    blockwise.reduced = None
    theta, beta = np.array([0.54, 0.75, 0.53]), np.array([11.4, 1.18, -0.98, -0.024])
    eta0 = np.log(eliminated.resp.y + 0.5)
    fast = eliminated.run(theta, None if with_beta else beta, eta0)
    slow = blockwise.run(theta, None if with_beta else beta, eta0)
    assert eliminated.laplace(fast) == pytest.approx(blockwise.laplace(slow), rel=1e-12)
    np.testing.assert_allclose(fast.u, slow.u, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.beta, slow.beta, rtol=1e-10)


def test_restarts_end_when_one_finds_the_same_optimum(monkeypatch):
    """The uncentred HEIGHT fails lme4's gradient check at the optimum (lme4 1.1-31 warns too: max|grad|
    0.0028); one Nelder-Mead restart lowers the deviance by 3e-7, a second one found nothing."""
    restarts = []
    minimize = fitting.minimize

    def counting(fun, start, lower, optimizer="bobyqa", **kwargs):
        result = minimize(fun, start, lower, optimizer=optimizer, **kwargs)
        if optimizer == fitting.RESTART_OPTIMIZER:
            restarts.append(result.fun)
        return result

    monkeypatch.setattr(fitting, "minimize", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        m = ml.glmer(OBSERVATION_LEVEL, ml.load_dataset("grouseticks"), family="poisson")
    assert len(restarts) == 1
    assert m.objective < 1780.5427069958  # lme4's optimum


@pytest.mark.parametrize("p", [1, 2])
def test_sandwich_map_gives_the_lower_triangle_of_the_dense_product(p):
    rng = np.random.default_rng(3)
    levels, m = 40, 25
    B = sp.random(m, levels * p, density=0.2, random_state=4, format="csc")
    G = rng.standard_normal((levels, p, p))
    G = G @ G.transpose(0, 2, 1)
    dense = np.zeros((levels * p, levels * p))
    for level in range(levels):
        dense[level * p:(level + 1) * p, level * p:(level + 1) * p] = G[level]
    expected = np.tril(B.toarray() @ dense @ B.toarray().T)
    np.testing.assert_allclose(SandwichMap(B, p)(G), expected, rtol=1e-12, atol=1e-12)


def test_sandwich_map_schur_gives_the_scaled_difference_in_column_major_order():
    rng = np.random.default_rng(5)
    levels, m = 40, 25
    B = sp.random(m, levels, density=0.2, random_state=6, format="csc")
    C = rng.standard_normal((m, m))
    C = C @ C.T
    C[3, 1] = C[1, 3] = 0.0  # a zero of C where B G B' has none, and the reverse below
    C[np.abs(B.toarray() @ B.toarray().T) == 0] = 5.0
    G = rng.uniform(0.1, 1.0, (levels, 1, 1))
    scale, diagonal = rng.uniform(0.5, 2.0, m), rng.uniform(0.0, 1.0, m)
    expected = np.tril(np.diag(scale) @ (C - B.toarray() @ np.diag(G.ravel()) @ B.toarray().T) @ np.diag(scale)
                       + np.diag(diagonal))
    S = SandwichMap(B, 1, C).schur(G, scale, diagonal)
    assert S.flags.f_contiguous
    np.testing.assert_allclose(S, expected, rtol=1e-12, atol=1e-12)
