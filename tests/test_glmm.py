"""glmer against lme4 1.1-31: cbpp (binomial, Laplace and nAGQ = 9) and grouseticks (Poisson, three terms).

Tolerances (issue 4): -2 logLik 1e-5 relative; fixed effects, SEs, variance components and
conditional modes 1e-3 relative (conditional modes: 1e-3 absolute, as some are near zero).
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedlite as ml

FIXTURES = Path(__file__).parent / "fixtures"
CASES = {
    "cbpp_binomial_laplace": ("cbpp", "binomial"),
    "cbpp_binomial_agq9": ("cbpp", "binomial"),
    "grouseticks_poisson_laplace": ("grouseticks", "poisson"),
}


def reference(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def relative_error(actual, expected):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, (data, family) in CASES.items():
        ref = reference(name)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ml.ConvergenceWarning)
            out[name] = (ml.glmer(ref["formula"], ml.load_dataset(data), family=family, nAGQ=ref["nAGQ"]), ref)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_likelihood(fits, name):
    m, ref = fits[name]
    assert relative_error(m.objective, ref["objective"]) < 1e-5
    assert relative_error(-2 * m.loglik(), -2 * ref["logLik"]) < 1e-5
    assert relative_error(m.aic(), ref["AIC"]) < 1e-5
    assert relative_error(m.bic(), ref["BIC"]) < 1e-5
    assert m.df == ref["df"]
    assert relative_error(m.deviance(), ref["deviance_fn"]) < 1e-4


@pytest.mark.parametrize("name", list(CASES))
def test_fixed_effects(fits, name):
    m, ref = fits[name]
    assert list(m.fixef().index) == ref["beta_names"]
    assert relative_error(m.fixef(), ref["beta"]) < 1e-3
    assert relative_error(np.sqrt(np.diag(m.vcov())), ref["se"]) < 1e-3
    assert relative_error(m.vcov().to_numpy(), ref["vcov"]) < 2e-3


@pytest.mark.parametrize("name", list(CASES))
def test_variance_components(fits, name):
    m, ref = fits[name]
    vc = m.varcorr()
    expected = pd.DataFrame(ref["varcorr"])
    assert list(vc["grp"]) == list(expected["grp"])  # no Residual row for GLMMs
    assert relative_error(vc["vcov"], expected["vcov"]) < 1e-3
    assert relative_error(vc["sdcor"], expected["sdcor"]) < 1e-3
    assert relative_error(m.theta, ref["theta"]) < 1e-3
    assert list(m.theta.index) == list(np.atleast_1d(ref["theta_names"]))


@pytest.mark.parametrize("name", list(CASES))
def test_conditional_modes(fits, name):
    m, ref = fits[name]
    tidy = m.ranef(condVar=True)
    for block in ref["ranef"]:
        rows = tidy[tidy["grpvar"] == block["group"]]
        assert list(rows["grp"]) == block["levels"]
        assert np.max(np.abs(rows["condval"].to_numpy() - np.ravel(block["values"]))) < 1e-3
        assert relative_error(rows["condsd"], np.ravel(block["condsd"])) < 1e-3
    assert set(m.ranef()) == {b["group"] for b in ref["ranef"]}


@pytest.mark.parametrize("name", list(CASES))
def test_fitted_and_residuals(fits, name):
    m, ref = fits[name]
    k = len(ref["fitted_head"])
    assert relative_error(m.fitted().to_numpy()[:k], ref["fitted_head"]) < 1e-3
    assert np.max(np.abs(m.residuals().to_numpy()[:k] - ref["resid_head"])) < 1e-3  # deviance: lme4's default
    assert np.max(np.abs(m.residuals("pearson").to_numpy()[:k] - ref["pearson_resid_head"])) < 1e-3
    assert np.allclose(m.predict(type="response"), m.fitted())
    assert np.allclose(m.residuals("response"), m.resp.y - m.fitted())


def test_wald_intervals(fits):
    m, ref = fits["cbpp_binomial_laplace"]
    z = 1.959963984540054
    se = np.sqrt(np.diag(m.vcov()))
    assert relative_error(m.beta - z * se, ref["confint_wald"]["lower"]) < 1e-3
    assert relative_error(m.beta + z * se, ref["confint_wald"]["upper"]) < 1e-3


def test_summary_layout(fits):
    m, _ = fits["cbpp_binomial_laplace"]
    text = str(m.summary())
    assert text.startswith("Generalized linear mixed model fit by maximum likelihood (Laplace Approximation) "
                           "['glmerMod']")
    assert " Family: binomial  ( logit )" in text
    assert "   194.1    204.2    -92.0    184.1       51 " in text
    assert "Estimate Std. Error z value Pr(>|z|)" in text
    assert list(m.summary().coefficients.columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
    assert "Residual" not in text.split("Random effects:")[1].split("Number of obs")[0]
    agq, _ = fits["cbpp_binomial_agq9"]
    assert "(Adaptive Gauss-Hermite Quadrature, nAGQ = 9)" in str(agq.summary())


def test_model_attributes(fits):
    m, _ = fits["cbpp_binomial_laplace"]
    assert (m.family, m.link, m.REML, m.nobs, m.ngrps) == ("binomial", "logit", False, 56, {"herd": 15})
    assert m.refit_ml() is m
    assert m.sigma == 1.0
    p, _ = fits["grouseticks_poisson_laplace"]
    assert (p.family, p.link) == ("poisson", "log")
