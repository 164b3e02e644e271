"""The fast path against the readable one: :mod:`mixedlite.core.reference` (dense matrices, one equation a line).

For small models of every random-effects shape -- a scalar intercept, a correlated vector term,
an uncorrelated ``||`` term, nested, crossed, three grouping factors, prior weights, offsets --

* lmer: the profiled REML criterion and ML deviance at several theta (the optimum, points away
  from it, a boundary point) agree to 1e-10 relative; at the optimum so do beta-hat, sigma-hat,
  the conditional modes and their conditional standard deviations (``ranef(condVar=True)``);
* glmer: the Laplace deviance at several (theta, beta), binomial and Poisson, agrees with the
  function glmer optimises (``deviance_function(np.r_[theta, beta])``) to 1e-8 relative, and
  the conditional modes at the optimum agree.

The GLMMs are fitted with ``tolPwrss=1e-13``: mixedlite's PIRLS, like lme4's, evaluates log|L|^2
with the working weights of the last-but-one iterate, which differs from the Laplace approximation
at the exact mode by a term of the order of the last PIRLS step (5.6e-4 in deviance on cbpp at
lme4's tolPwrss = 1e-7; see :mod:`mixedlite.core.glmm`).  The reference iterates to 1e-15 and takes
log|L|^2 at the mode itself.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedlite as ml
from mixedlite.core import reference
from mixedlite.core.design import Design

OBJECTIVE_RTOL = 1e-10   # lmer criteria: the same arithmetic, up to rounding
ESTIMATE_RTOL = 1e-8     # beta, sigma, modes at the optimum
LAPLACE_RTOL = 1e-8      # glmer: PIRLS to tolPwrss = 1e-13 against the exact mode


def simulated(seed=11, n=240):
    """Three crossed factors g (24 levels), h (8), k (5), two covariates, weights and an exposure."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"g": rng.integers(0, 24, n), "h": rng.integers(0, 8, n), "k": rng.integers(0, 5, n),
                      "x": rng.normal(size=n), "z": rng.uniform(0, 2, size=n)})
    for factor in "ghk":
        d[factor] = "L" + d[factor].astype(str)
    effect = {f: dict(zip(sorted(d[f].unique()), rng.normal(size=d[f].nunique()))) for f in "ghk"}
    slope = dict(zip(sorted(d.g.unique()), rng.normal(scale=0.4, size=d.g.nunique())))
    eta = 0.3 + 0.5 * d.x + d.g.map(effect["g"]) + 0.6 * d.h.map(effect["h"]) + 0.4 * d.k.map(effect["k"]) \
        + d.x * d.g.map(slope)
    d["w"] = rng.uniform(0.5, 3, n)
    d["y"] = 2 + eta + rng.normal(size=n) / np.sqrt(d.w)
    d["exposure"] = rng.uniform(0.5, 4, n)
    d["log_exposure"] = np.log(d.exposure)
    d["count"] = rng.poisson(d.exposure * np.exp(eta / 2))
    d["success"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    d["trials"] = rng.integers(1, 6, n)
    d["successes"] = rng.binomial(d.trials, 1 / (1 + np.exp(-eta)))
    d["proportion"] = d.successes / d.trials
    d["obs"] = "o" + d.index.astype(str)
    return d


LMM_CASES = {
    "scalar intercept": ("sleepstudy", "Reaction ~ Days + (1 | Subject)", {}),
    "correlated vector": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", {}),
    "uncorrelated ||": ("sleepstudy", "Reaction ~ Days + (Days || Subject)", {}),
    "nested": ("Pastes", "strength ~ 1 + (1 | batch/cask)", {}),
    "crossed": ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", {}),
    "three factors, vector first": ("simulated", "y ~ x + (x | g) + (1 | h) + (1 | k)", {}),
    "weighted": ("simulated", "y ~ x + (x | g) + (1 | h)", {"weights": "w"}),
    "offset": ("simulated", "y ~ x + offset(2 * z) + (1 | g) + (0 + x | h)", {"offset": "log_exposure"}),
}


def load(name):
    return simulated() if name == "simulated" else ml.load_dataset(name)


def theta_points(model):
    """The optimum, two points away from it (off-diagonal elements moved too) and a boundary point."""
    theta = model.theta.to_numpy()
    on_diagonal = model.design.theta_lower == 0
    moved = np.where(on_diagonal, 0.0, 0.3)
    return [theta, 0.5 * theta + 0.1 * on_diagonal - moved, 1.7 * theta + 0.05 * on_diagonal + moved,
            np.where(np.arange(len(theta)) == 0, 0.0, theta)]


def tidy_modes(design, b, condsd=None):
    """lme4's ``as.data.frame(ranef(m, condVar=TRUE))`` from a vector over all random effects (and their SDs)."""
    condsd = np.full(len(b), np.nan) if condsd is None else condsd
    rows, start = [], 0
    for term in design.terms:
        for j, name in enumerate(term.names):
            index = start + np.arange(term.n_levels) * term.p + j
            rows.append(pd.DataFrame({"grpvar": term.group, "term": name, "grp": term.levels,
                                      "condval": b[index], "condsd": condsd[index]}))
        start += term.q
    return pd.concat(rows, ignore_index=True)


def merged_with_reference(fast, slow):
    merged = fast.merge(slow, on=["grpvar", "term", "grp"], suffixes=("", "_reference"), validate="1:1")
    assert len(merged) == len(slow) == len(fast)
    return merged


@pytest.fixture(scope="module", params=list(LMM_CASES), ids=list(LMM_CASES))
def lmm_fits(request):
    dataset, formula, options = LMM_CASES[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular fits (Pastes' batch) are fine here
        reml = ml.lmer(formula, load(dataset), REML=True, **options)
        return reml, reml.refit_ml()


def test_lmm_criteria_match_at_several_theta(lmm_fits):
    for model in lmm_fits:
        for theta in theta_points(model):
            solution = reference.lmm_at(model.design, theta)
            expected = solution.reml_criterion if model.REML else solution.deviance
            assert model.criterion(theta) == pytest.approx(expected, rel=OBJECTIVE_RTOL), theta
            assert reference.lmm_criterion(model.design, theta, model.REML) == expected


def test_lmm_estimates_and_modes_match_at_the_optimum(lmm_fits):
    for model in lmm_fits:
        solution = reference.lmm_at(model.design, model.theta.to_numpy())
        assert model.objective == pytest.approx(solution.reml_criterion if model.REML else solution.deviance,
                                                rel=OBJECTIVE_RTOL)
        np.testing.assert_allclose(model.fixef().to_numpy(), solution.beta, rtol=ESTIMATE_RTOL)
        assert model.sigma == pytest.approx(solution.sigma(model.REML), rel=ESTIMATE_RTOL)
        condsd = np.sqrt(np.diag(solution.conditional_covariance(model.REML)))
        merged = merged_with_reference(model.ranef(condVar=True), tidy_modes(model.design, solution.b, condsd))
        scale = np.abs(merged.condval_reference).max()
        np.testing.assert_allclose(merged.condval, merged.condval_reference, rtol=ESTIMATE_RTOL,
                                   atol=ESTIMATE_RTOL * scale)
        np.testing.assert_allclose(merged.condsd, merged.condsd_reference, rtol=ESTIMATE_RTOL)


def test_reference_fit_reaches_lmers_optimum():
    """The reference's own fit (Nelder-Mead over theta) lands on lmer's optimum: the whole path is there."""
    for REML in (True, False):
        model = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.load_dataset("sleepstudy"), REML=REML)
        theta, solution = reference.fit_lmm(model.design, REML)
        assert (solution.reml_criterion if REML else solution.deviance) == pytest.approx(model.objective, rel=1e-9)
        np.testing.assert_allclose(theta, model.theta.to_numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(solution.beta, model.fixef().to_numpy(), rtol=1e-6)


def test_reference_joint_normal_equations_by_hand():
    """The reference itself, on a model small enough to write out: one factor, two levels, no X but 1."""
    X = np.ones((4, 1))
    Z = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    y = np.array([1.0, 3.0, 6.0, 8.0])
    theta = 2.0  # tau / sigma
    s = reference.penalized_least_squares(X, Z, theta * np.eye(2), y)
    # each level's mean, 2 and 7, shrunk toward the grand mean 4.5 by k = tau^2 / (tau^2 + sigma^2 / n_j)
    k = theta**2 / (theta**2 + 1 / 2)
    assert s.beta[0] == pytest.approx(4.5)
    np.testing.assert_allclose(s.b, k * np.array([2 - 4.5, 7 - 4.5]))
    assert s.logdet_L == pytest.approx(2 * np.log(1 + 2 * theta**2))   # M = (1 + 2 theta^2) I
    assert s.r2 == pytest.approx(np.sum((y - 4.5 - Z @ s.b) ** 2) + np.sum((s.b / theta) ** 2))


# ---------------------------------------------------------------- GLMMs

GLMM_CASES = {
    "binomial cbind, scalar (cbpp)": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                      "binomial", {}),
    "binomial 0/1, correlated vector": ("simulated", "success ~ x + (x | g)", "binomial", {}),
    "binomial proportion with weights, crossed": ("simulated", "proportion ~ x + (1 | g) + (1 | h)",
                                                  "binomial", {"weights": "trials"}),
    "poisson with offset, three factors": ("simulated", "count ~ x + (1 | g) + (1 | h) + (0 + x | k)",
                                           "poisson", {"offset": "log_exposure"}),
    "poisson, observation-level term eliminated": ("simulated", "count ~ x + (1 | obs) + (x | g) + (1 | h)",
                                                   "poisson", {}),
}


@pytest.fixture(scope="module", params=list(GLMM_CASES), ids=list(GLMM_CASES))
def glmm_fit(request):
    dataset, formula, family, options = GLMM_CASES[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.glmer(formula, load(dataset), family=family, tolPwrss=1e-13, **options)


def parameter_points(model):
    theta, beta = model.theta.to_numpy(), model.beta
    on_diagonal = model.design.theta_lower == 0
    return [(theta, beta), (0.6 * theta + 0.1 * on_diagonal, beta + 0.2),
            (1.4 * theta + 0.05 * on_diagonal, beta - 0.1 * np.arange(len(beta)))]


def test_glmm_laplace_deviance_matches_at_several_parameters(glmm_fit):
    for theta, beta in parameter_points(glmm_fit):
        modes = reference.glmm_at(glmm_fit.design, glmm_fit.resp, glmm_fit.family, theta, beta, tol=1e-15)
        assert glmm_fit.deviance_function(np.r_[theta, beta]) == pytest.approx(modes.deviance, rel=LAPLACE_RTOL)


def test_glmm_objective_and_modes_match_at_the_optimum(glmm_fit):
    theta, beta = glmm_fit.theta.to_numpy(), glmm_fit.beta
    modes = reference.glmm_at(glmm_fit.design, glmm_fit.resp, glmm_fit.family, theta, beta, tol=1e-15)
    assert glmm_fit.objective == pytest.approx(modes.deviance, rel=LAPLACE_RTOL)
    merged = merged_with_reference(glmm_fit.ranef(condVar=True), tidy_modes(glmm_fit.design, modes.b))
    np.testing.assert_allclose(merged.condval, merged.condval_reference, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(modes.mu, glmm_fit.fitted().to_numpy(), rtol=1e-6)


def test_pirls_halves_steps_and_reaches_the_mode():
    """At the mode the gradient of the penalized deviance, -2 (Z Lambda)' W^(1/2) r + 2 u, vanishes."""
    d = simulated()
    design = Design("count ~ x + (1 | g) + (1 | h)", d, offset="log_exposure")
    X, Z = reference.model_matrices(design)
    Lambda = reference.relative_covariance_factor(design, [3.0, 2.0])  # large theta: wild first steps
    modes = reference.pirls(X, Z, Lambda, d["count"].to_numpy(float), np.array([0.0, 0.5]), "poisson",
                            offset=design.offset)
    gradient = -(Z @ Lambda).T @ (d["count"].to_numpy() - modes.mu) + modes.u  # Poisson, log link: mu_eta = V = mu
    assert np.max(np.abs(gradient)) < 1e-8
