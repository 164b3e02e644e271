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
from mixedlite.core import glmm
from mixedlite.core.diagnostics import deriv12
from references import load_reference as reference, relative_error

DIFFERENTIAL_SPECS = Path(__file__).resolve().parent / "differential" / "specs.json"
CASES = {
    "cbpp_binomial_laplace": ("cbpp", "binomial"),
    "cbpp_binomial_agq9": ("cbpp", "binomial"),
    "grouseticks_poisson_laplace": ("grouseticks", "poisson"),
}


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


@pytest.mark.parametrize("name", list(CASES))
def test_vcov_is_that_of_the_hessian_at_the_optimum(fits, name):
    """lme4 takes the Hessian at its optimum; where the Newton polish moved x so little that the Hessian
    taken before it is kept (``glmm.HESSIAN_REUSE_MOVE``), the SEs are still those of a Hessian taken
    anew at the returned optimum, to well within the 1e-4 the differential suite allows."""
    m, _ = fits[name]
    assert _se_error_from_a_fresh_hessian(m) < 1e-5


def test_vcov_after_a_large_newton_step_is_that_of_the_hessian_at_the_optimum():
    """tests/differential binary_026_1: the polish moves x by about 4e-3, and the SEs of the Hessians before
    and after it differ by about 1e-3: the Hessian is taken anew."""
    spec = next(s for s in json.loads(DIFFERENTIAL_SPECS.read_text()) if s["id"] == "binary_026_1")
    data = pd.read_csv(DIFFERENTIAL_SPECS.parent / "data" / spec["file"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        m = ml.glmer(spec["ml_formula"], data, **spec["ml_args"])
    assert _se_error_from_a_fresh_hessian(m) < 1e-5


def _se_error_from_a_fresh_hessian(m):
    """The largest relative difference between ``m``'s SEs and those of ``deriv12`` at its optimum."""
    se = np.sqrt(np.diag(m.vcov()))
    _, hessian = deriv12(m.deviance_function, m._pars)
    m.deviance_function(m._pars)  # PIRLS back at the optimum
    return relative_error(se, np.sqrt(np.diag(m._hessian_vcov(hessian))))


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


# ---------------------------------------------------------------- likelihood-ratio tests, nAGQ = 0, exact Laplace


def test_anova_between_glmms(fits):
    m1, ref = fits["cbpp_binomial_laplace"]
    m0 = ml.glmer(ref["anova"]["models"][0], ml.load_dataset("cbpp"), family="binomial")
    table = ml.anova(m0, m1)
    expected = ref["anova"]
    assert relative_error(table["logLik"], expected["logLik"]) < 1e-5
    assert relative_error(table["AIC"], expected["AIC"]) < 1e-5
    assert relative_error(table["Chisq"].iloc[1], expected["Chisq"][1]) < 1e-4
    assert relative_error(table["Pr(>Chisq)"].iloc[1], expected["p"][1]) < 1e-3
    assert list(table["npar"]) == expected["npar"]


def test_nAGQ0_fast_fit(fits):
    laplace, ref = fits["cbpp_binomial_laplace"]
    fast = ml.glmer(ref["formula"], ml.load_dataset("cbpp"), nAGQ=0)
    assert np.max(np.abs(fast.beta - laplace.beta)) < 0.05  # close to, not equal to, the Laplace fit
    assert abs(fast._theta[0] - laplace._theta[0]) < 0.01
    assert fast.objective > laplace.objective  # the Laplace fit optimises this criterion over beta too
    assert "nAGQ = 0" in str(fast.summary())


def test_exact_laplace_is_lower_than_lme4(fits):
    """lme4's PIRLS tolerance (tolPwrss = 1e-7) makes its deviance slightly higher than the exact Laplace
    approximation; with a tight tolerance our fit reaches a lower deviance (see mixedlite.core.glmm)."""
    _, ref = fits["cbpp_binomial_laplace"]
    exact = ml.glmer(ref["formula"], ml.load_dataset("cbpp"), tolPwrss=1e-12)
    assert exact.objective < ref["objective"] - 1e-4
    assert relative_error(exact.objective, ref["objective"]) < 1e-5
    assert relative_error(exact.fixef(), ref["beta"]) < 1e-3


# ---------------------------------------------------------------- response forms


@pytest.fixture(scope="module")
def cbpp_binary():
    """cbpp with one 0/1 row per animal."""
    d = ml.load_dataset("cbpp")
    trials = d["size"].to_numpy()
    rows = d.loc[d.index.repeat(trials), ["herd", "period"]].reset_index(drop=True)
    rows["y"] = np.concatenate([np.r_[np.ones(k), np.zeros(n - k)] for k, n in zip(d["incidence"], trials)])
    return rows


def test_response_forms_agree(fits, cbpp_binary):
    m, ref = fits["cbpp_binomial_laplace"]
    d = ml.load_dataset("cbpp").assign(prop=lambda x: x["incidence"] / x["size"])
    proportion = ml.glmer("prop ~ period + (1 | herd)", d, family="binomial", weights="size")
    assert proportion.objective == pytest.approx(m.objective, rel=1e-10)
    assert np.allclose(proportion.beta, m.beta, atol=1e-8)
    array_weights = ml.glmer("prop ~ period + (1 | herd)", d, family="binomial", weights=d["size"].to_numpy())
    assert array_weights.objective == pytest.approx(m.objective, rel=1e-10)
    binary = ml.glmer("y ~ period + (1 | herd)", cbpp_binary)
    assert np.allclose(binary.beta, m.beta, atol=1e-4)  # same likelihood up to the binomial coefficients
    assert np.allclose(binary._theta, m._theta, atol=1e-4)
    logical = ml.glmer("y ~ period + (1 | herd)", cbpp_binary.assign(y=cbpp_binary["y"] == 1))
    factor = ml.glmer("y ~ period + (1 | herd)", cbpp_binary.assign(
        y=pd.Categorical(np.where(cbpp_binary["y"] == 1, "sick", "healthy"), categories=["healthy", "sick"])))
    assert logical.objective == pytest.approx(binary.objective, rel=1e-12)
    assert factor.objective == pytest.approx(binary.objective, rel=1e-12)  # first level = failure


def test_poisson_offset():
    rng = np.random.default_rng(7)
    groups, per = 40, 12
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    exposure = rng.uniform(0.5, 4, size=groups * per)
    eta = np.log(exposure) + 0.3 + 0.5 * x + rng.normal(0, 0.5, groups)[g]
    d = pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "g": pd.Categorical(g), "logexp": np.log(exposure)})
    by_name = ml.glmer("y ~ x + (1 | g)", d, family="poisson", offset="logexp")
    by_array = ml.glmer("y ~ x + (1 | g)", d, family="poisson", offset=np.log(exposure))
    assert by_name.objective == pytest.approx(by_array.objective, rel=1e-12)
    assert np.allclose(by_name.fixef(), [0.3, 0.5], atol=0.2)
    assert np.allclose(by_name.fitted(), np.exp(by_name.predict()))  # the offset is in the predictions
    new = d.head(5).assign(logexp=d["logexp"].head(5) + np.log(2))  # twice the exposure, twice the mean
    assert np.allclose(by_name.predict(new, type="response"), 2 * by_name.fitted().head(5))
    without = ml.glmer("y ~ x + (1 | g)", d, family="poisson")
    assert by_name.loglik() > without.loglik()
    sims = by_name.simulate(nsim=2, seed=3).to_numpy()
    assert np.all(sims >= 0) and np.array_equal(sims, np.round(sims))
    # newdata without the offset's values cannot be predicted: an error, never a prediction without it
    with pytest.raises(ValueError, match="newdata has no column 'logexp'"):
        by_name.predict(new.drop(columns="logexp"))
    with pytest.raises(ValueError, match="the offset was given as an array.*offset='column'"):
        by_array.predict(new)


@pytest.mark.filterwarnings("ignore:Model failed to converge")
def test_optimizer_budget_is_reported(fits):
    _, ref = fits["cbpp_binomial_laplace"]
    with pytest.warns(ml.ConvergenceWarning, match="maxeval"):
        ml.glmer(ref["formula"], ml.load_dataset("cbpp"), maxeval=8)


# ---------------------------------------------------------------- overdispersion and the observation-level effect


def test_overdispersion_and_observation_level_random_effect():
    rng = np.random.default_rng(11)
    groups, per = 30, 10
    g = np.repeat(np.arange(groups), per)
    eta = 1.0 + rng.normal(0, 0.4, groups)[g] + rng.normal(0, 0.8, groups * per)  # extra-Poisson noise
    d = pd.DataFrame({"y": rng.poisson(np.exp(eta)), "g": pd.Categorical(g),
                      "obs": pd.Categorical(np.arange(groups * per))})
    plain = ml.glmer("y ~ 1 + (1 | g)", d, family="poisson")
    check = ml.overdispersion(plain)
    assert set(check.index) == {"chisq", "ratio", "rdf", "p"}
    assert check["rdf"] == len(d) - 2
    assert check["ratio"] > 2 and check["p"] < 1e-6
    remedy = ml.glmer("y ~ 1 + (1 | g) + (1 | obs)", d, family="poisson")  # glmer allows one level per row
    assert ml.overdispersion(remedy)["ratio"] < 1.2
    assert remedy.aic() < plain.aic() - 50
    assert remedy.varcorr().set_index("grp").loc["obs", "sdcor"] == pytest.approx(0.8, abs=0.2)


# ---------------------------------------------------------------- known ICC is recovered


def test_known_icc_is_recovered():
    """Random-intercept logistic GLMM with latent ICC 0.2: var_u = 0.2 / 0.8 * pi^2 / 3."""
    rng = np.random.default_rng(2025)
    clusters, size, icc = 150, 30, 0.2
    var_u = icc / (1 - icc) * np.pi**2 / 3
    g = np.repeat(np.arange(clusters), size)
    x = rng.normal(size=clusters * size)
    eta = -0.5 + 0.7 * x + rng.normal(0, np.sqrt(var_u), clusters)[g]
    d = pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x, "g": pd.Categorical(g)})
    m = ml.glmer("y ~ x + (1 | g)", d, family="binomial")
    assert ml.icc(m) == pytest.approx(icc, abs=0.05)  # the ICC's standard error here is about 0.02
    assert m.fixef()["x"] == pytest.approx(0.7, abs=0.1)


def test_simulate_and_refit(fits):
    m, _ = fits["cbpp_binomial_laplace"]
    sims = m.simulate(nsim=3, seed=1)
    assert sims.shape == (56, 3) and list(sims.columns) == ["sim_1", "sim_2", "sim_3"]
    size = ml.load_dataset("cbpp")["size"].to_numpy()
    assert np.all((sims.to_numpy() >= 0) & (sims.to_numpy() <= size[:, None]))  # successes out of trials
    assert np.array_equal(sims, m.simulate(nsim=3, seed=1))
    refit = m.refit(sims["sim_1"])
    assert refit.fixef().index.equals(m.fixef().index)
    assert np.max(np.abs(refit.beta - m.beta)) < 1.5


def test_singular_fit_is_reported():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"y": rng.binomial(1, 0.4, 400), "g": pd.Categorical(np.repeat(np.arange(20), 20))})
    with pytest.warns(ml.SingularFitWarning):
        m = ml.glmer("y ~ 1 + (1 | g)", d)
    assert m.is_singular()
    assert any("singular" in message for message in m.convergence)


# ---------------------------------------------------------------- bad input: clear errors


def test_non_binary_binomial_response():
    d = ml.load_dataset("cbpp")
    with pytest.raises(ValueError, match=r"must be 0/1.*cbind\(successes, failures\)"):
        ml.glmer("incidence ~ period + (1 | herd)", d, family="binomial")
    three = d.assign(level=pd.Categorical(np.resize(["a", "b", "c"], len(d))))
    with pytest.raises(ValueError, match="exactly two"):
        ml.glmer("level ~ period + (1 | herd)", three, family="binomial")
    with pytest.raises(ValueError, match="non-negative whole numbers"):
        ml.glmer("cbind(incidence, incidence - size) ~ period + (1 | herd)", d, family="binomial")
    with pytest.raises(ValueError, match="proportion between 0 and 1"):
        ml.glmer("incidence ~ period + (1 | herd)", d, family="binomial", weights="size")


def test_bad_poisson_counts():
    d = ml.load_dataset("grouseticks")
    with pytest.raises(ValueError, match="negative values.*counts cannot be negative"):
        ml.glmer("y ~ YEAR + (1 | BROOD)", d.assign(y=d["TICKS"] - 1), family="poisson")
    with pytest.raises(ValueError, match="non-integer values.*offset"):
        ml.glmer("y ~ YEAR + (1 | BROOD)", d.assign(y=d["TICKS"] + 0.5), family="poisson")


def test_agq_needs_one_scalar_term():
    d = ml.load_dataset("grouseticks")
    with pytest.raises(ValueError, match=r"single, scalar random-effects term.*Use nAGQ=1"):
        ml.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", d, family="poisson", nAGQ=5)
    with pytest.raises(ValueError, match=r"single, scalar random-effects term.*\(1 \+ cHEIGHT \| LOCATION\)"):
        ml.glmer("TICKS ~ YEAR + (1 + cHEIGHT | LOCATION)", d, family="poisson", nAGQ=5)
    with pytest.raises(ValueError, match="nAGQ must be a whole number from 0 to 25"):
        ml.glmer("TICKS ~ YEAR + (1 | LOCATION)", d, family="poisson", nAGQ=30)


def test_unknown_family():
    with pytest.raises(ValueError, match="family='binomial'.*family='poisson'"):
        ml.glmer("TICKS ~ YEAR + (1 | LOCATION)", ml.load_dataset("grouseticks"), family="gamma")


def test_stage2_searches_the_intercept_at_the_means_of_off_centre_predictors():
    """glmm.centred_intercept: the intercept becomes beta_0 + mean(x) beta_x for a continuous x whose mean
    exceeds its SD; binary and well-centred columns, and theta, are left as they are; the map is inverted."""
    rng = np.random.default_rng(5)
    n, k = 200, 2
    height, binary, centred = rng.normal(462, 36, n), rng.integers(0, 2, n).astype(float), rng.normal(0.05, 1, n)
    X = np.column_stack([np.ones(n), height, binary, centred])
    search = glmm.centred_intercept(X, k)
    x = np.r_[0.5, 0.2, 11.0, -0.02, 1.2, 0.3]
    s = search["to_search"](x)
    expected = x.copy()
    expected[k] = x[k] + height.mean() * x[k + 1]
    assert np.allclose(s, expected, rtol=1e-14)
    assert np.allclose(search["from_search"](s), x, rtol=1e-12, atol=1e-14)
    assert glmm.centred_intercept(X[:, [0, 2, 3]], k) == {}  # nothing off centre: NLopt's own coordinates
    assert glmm.centred_intercept(X[:, 1:], k) == {}  # no intercept
