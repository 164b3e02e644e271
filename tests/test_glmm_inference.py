"""GLMM inference against lme4 1.1-31 (cbpp; a simulated correlated random slope), and models
without fixed effects.

Reference: tests/fixtures/glmm_inference.json, written by tests/fixtures/glmm_inference.R.

* Profile intervals (lme4's ``confint(fit, method = "profile")``).  lme4 inverts a spline
  through a coarse grid of profile points, so its ends carry the spline's error; the R script
  also finds the exact roots of lme4's own profile (``zeta = -+1.96``, lme4's deviance
  function, tight BOBYQA, ``uniroot`` to 1e-10).  Ends agree with those exact roots to 1e-4
  relative (measured: 2e-7 on cbpp, below 1e-8 with nAGQ = 9, 1e-6 on the random slope).  On cbpp
  lme4's printed (spline) ends are within 8e-6 of its exact roots, so they are held to 1e-4
  too; on the random slope lme4's spline is off by up to 6e-3 (see that test).
* Parametric bootstrap.  Bootstrap replicates are random, and R's and numpy's generators
  differ, so the two libraries' replicates are compared as samples: means and standard
  deviations within 4 Monte Carlo standard errors, two-sample Kolmogorov-Smirnov tests, and
  percentile ends within the distribution-free uncertainty of a sample quantile.  The
  deterministic parts are compared exactly: refits of responses simulated by lme4, and the
  percentile intervals computed from lme4's own replicates.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedlite as ml
from mixedlite.core.fitting import ThetaSearch

REF = json.loads((Path(__file__).parent / "fixtures" / "glmm_inference.json").read_text())
CBPP_FORMULA = REF["formula"]
PROFILE_RTOL = 1e-4
N_BOOT = 200
BOOT_SEED = 2026


@pytest.fixture(scope="module")
def cbpp():
    return ml.load_dataset("cbpp")


@pytest.fixture(scope="module")
def gfit(cbpp):
    return ml.glmer(CBPP_FORMULA, cbpp, family="binomial")


def parameters(model):
    """sd of the herd effect, then the fixed effects (the rows of lme4's confint)."""
    return np.r_[model.varcorr()["sdcor"].to_numpy(), model.beta]


# ---------------------------------------------------------------- profile intervals

@pytest.fixture(scope="module")
def profile_ci(gfit):
    return gfit.confint(method="profile")


def test_profile_rows_are_lme4s(profile_ci):
    assert list(profile_ci.index) == REF["names"]
    assert list(profile_ci.columns) == ["2.5 %", "97.5 %"]


def test_profile_ends_match_the_exact_roots_of_lme4s_profile(profile_ci):
    exact = np.array(REF["profile_exact"]["ends"])
    np.testing.assert_allclose(profile_ci.to_numpy(), exact, rtol=PROFILE_RTOL)


def test_profile_ends_match_lme4s_printed_ends(profile_ci):
    """lme4's spline ends (fitted with default and with tight tolerances) are within 8e-6 of
    its exact roots here (the fixture's ``zeta_at_spline_ends`` is -+1.95993 to -+1.95997)."""
    for key in ("profile_spline", "profile_spline_tight"):
        np.testing.assert_allclose(profile_ci.to_numpy(), REF[key], rtol=PROFILE_RTOL)


def test_profile_with_adaptive_quadrature_matches_lme4(cbpp):
    ref = REF["agq9"]
    fit = ml.glmer(CBPP_FORMULA, cbpp, family="binomial", nAGQ=9)
    assert fit.objective == pytest.approx(ref["deviance"], rel=1e-5)
    ci = fit.confint(method="profile")
    np.testing.assert_allclose(ci.to_numpy(), ref["profile_exact"]["ends"], rtol=PROFILE_RTOL)
    np.testing.assert_allclose(ci.to_numpy(), ref["profile_spline"], rtol=PROFILE_RTOL)


def test_profile_of_a_correlated_random_slope_matches_lme4():
    """``y ~ x + (x | g)`` on binary data simulated in R: the correlation's interval ends at its
    bound 1 (lme4: the profile never reaches 1.96 there).  Its lower end, 0.0032, is compared on
    the correlation's own scale (absolutely, 1e-5).  lme4's printed ends are off by up to 6e-3
    here (its spline: zeta = -1.9638 at its sd_x end; a linear fallback for the correlation),
    so against them we ask only to be no farther than lme4's own spline error."""
    ref = REF["slopes"]
    data = pd.DataFrame(ref["data"]).astype({"g": "category"})
    fit = ml.glmer(ref["formula"], data, family="binomial")
    assert fit.objective == pytest.approx(ref["deviance"], rel=1e-5)
    ci = fit.confint(method="profile")
    assert list(ci.index) == ref["names"]
    exact, spline = np.array(ref["profile_exact"]["ends"]), np.array(ref["profile_spline"])
    is_cor = np.array([n.startswith("cor_") for n in ref["names"]])
    np.testing.assert_allclose(ci.to_numpy()[~is_cor], exact[~is_cor], rtol=PROFILE_RTOL)
    np.testing.assert_allclose(ci.to_numpy()[is_cor], exact[is_cor], atol=1e-5)
    assert ci.loc["cor_x.(Intercept)|g", "97.5 %"] == 1.0
    assert np.all(np.abs(ci.to_numpy() - spline) <= np.abs(exact - spline) + PROFILE_RTOL * np.abs(spline) + 1e-5)


def test_profile_of_the_deviance_at_the_optimum_is_the_fits_deviance(gfit):
    from mixedlite.inference.profile import GlmmProfile
    prof = GlmmProfile(gfit)
    assert prof.deviance(prof.opt) == pytest.approx(gfit.objective, rel=1e-12)
    assert gfit.objective == pytest.approx(REF["fit"]["deviance"], rel=1e-5)


def test_profile_of_selected_parameters_and_level(gfit, profile_ci):
    ci = gfit.confint(parm=["period2"], method="profile")
    assert list(ci.index) == ["period2"]
    np.testing.assert_allclose(ci.to_numpy(), profile_ci.loc[["period2"]].to_numpy(), rtol=1e-7)
    narrow = gfit.confint(parm="theta_", method="profile", level=0.5)
    assert list(narrow.columns) == ["25 %", "75 %"]
    assert profile_ci.iloc[0, 0] < narrow.iloc[0, 0] < gfit.varcorr()["sdcor"][0] < narrow.iloc[0, 1]


def test_profile_needs_the_deviance_of_beta(cbpp):
    fast = ml.glmer(CBPP_FORMULA, cbpp, family="binomial", nAGQ=0)
    with pytest.raises(ValueError, match="refit with nAGQ=1"):
        fast.confint(method="profile")


def test_profile_of_a_fit_that_stopped_short_warns(cbpp, monkeypatch):
    def no_refinement(self, x, fx):  # glmer's Newton polish and restarts would rescue the fit
        return x, fx

    monkeypatch.setattr(ThetaSearch, "refine", no_refinement)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        short = ml.glmer(CBPP_FORMULA, cbpp, family="binomial", maxeval=14)   # stage 2 stops after 14 steps
    assert short.objective > REF["tight"]["deviance"] + 1e-2
    with pytest.warns(ml.ConvergenceWarning, match="profiling found a deviance .* below the fit's"):
        short.confint(parm="theta_", method="profile")


# ---------------------------------------------------------------- parametric bootstrap

def test_refits_of_lme4s_simulated_responses_match_lme4(gfit):
    """The refit step of the bootstrap, on the same responses as lme4 (simulated in R).

    Deviances agree to 1e-5 relative and estimates to 1e-3, the GLMM tolerances of
    tests/test_glmm.py: lme4's refit starts PIRLS from another linear predictor (``lp0``),
    and its PIRLS stopping rule (``tolPwrss``) makes the deviance depend on that start by up
    to ~5e-4 (measured here: deviances differ by -1.3e-4 to 5.4e-4, estimates by at most 6e-4).
    """
    for case in REF["refits"].values():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some replicates are singular fits
            refit = gfit.refit(np.array(case["successes"], dtype=float))
        assert refit.objective == pytest.approx(case["deviance"], rel=1e-5)
        expected = np.r_[case["theta"], case["beta"]]
        np.testing.assert_allclose(parameters(refit), expected, rtol=1e-3)


@pytest.fixture(scope="module")
def boot(gfit):
    return ml.bootmer(gfit, lambda m: pd.Series(parameters(m), index=REF["names"]), nsim=N_BOOT, seed=BOOT_SEED,
                      progress=False)


def test_bootstrap_is_seeded(gfit):
    a = ml.bootmer(gfit, lambda m: m.fixef(), nsim=3, seed=4, progress=False)
    b = ml.bootmer(gfit, lambda m: m.fixef(), nsim=3, seed=4, progress=False)
    pd.testing.assert_frame_equal(a.t, b.t)
    pd.testing.assert_series_equal(a.t0, gfit.fixef().astype(float))


def test_bootstrap_moments_match_lme4s(boot):
    """Means and SDs of the replicates within 4 Monte Carlo standard errors of lme4's 1000.

    SE of a difference of means: sqrt(s1^2/n1 + s2^2/n2).  SE of log(sd): about
    sqrt(kappa / (4 n)), kappa = the kurtosis factor (m4 / s^4 - 1; 2 for a normal sample),
    estimated from the pooled replicates.
    """
    ours, theirs = boot.t.to_numpy(), np.array(REF["boot"]["t"])
    n1, n2 = len(ours), len(theirs)
    se_mean = np.sqrt(ours.var(axis=0, ddof=1) / n1 + theirs.var(axis=0, ddof=1) / n2)
    assert np.all(np.abs(ours.mean(axis=0) - theirs.mean(axis=0)) < 4 * se_mean)
    pooled = np.vstack([ours, theirs])
    kappa = stats.kurtosis(pooled, axis=0, fisher=False) - 1
    se_log_sd = np.sqrt(kappa / (4 * n1) + kappa / (4 * n2))
    log_ratio = np.log(ours.std(axis=0, ddof=1) / theirs.std(axis=0, ddof=1))
    assert np.all(np.abs(log_ratio) < 4 * se_log_sd)
    np.testing.assert_allclose(boot.t0, REF["fit"]["params"], rtol=1e-3)


def test_bootstrap_distribution_matches_lme4s(boot):
    ours, theirs = boot.t.to_numpy(), np.array(REF["boot"]["t"])
    for j, name in enumerate(REF["names"]):
        assert stats.ks_2samp(ours[:, j], theirs[:, j]).pvalue > 1e-3, name


def test_percentile_intervals_of_lme4s_replicates_are_lme4s():
    """boot.ci(type = "perc") on lme4's own replicates: the same seed gives confint the same t."""
    from mixedlite.inference.bootstrap import percentile_interval
    t = np.array(REF["boot"]["t"])
    ours = np.array([percentile_interval(t[:, j], np.array([0.025, 0.975])) for j in range(t.shape[1])])
    np.testing.assert_allclose(ours, REF["boot"]["ci"], rtol=1e-10)


def _quantile_band(sample, p, z=3.29):
    """Distribution-free 99.9% interval for the p-quantile: order statistics n p -+ z sqrt(n p (1 - p))."""
    x, n = np.sort(sample), len(sample)
    half = z * np.sqrt(n * p * (1 - p))
    lo, hi = int(np.floor(n * p - half)), int(np.ceil(n * p + half))
    return x[max(lo, 0)], x[min(hi, n - 1)]


def test_boot_confint_matches_lme4s_within_monte_carlo_error(gfit, boot):
    ci = gfit.confint(method="boot", nsim=N_BOOT, seed=BOOT_SEED, progress=False)
    assert list(ci.index) == REF["names"] and list(ci.columns) == ["2.5 %", "97.5 %"]
    pd.testing.assert_frame_equal(ci, boot.confint())                 # the same seed, the same replicates
    theirs, ours_t = np.array(REF["boot"]["t"]), boot.t.to_numpy()
    for j, name in enumerate(REF["names"]):
        for side, p in enumerate((0.025, 0.975)):
            a, b = _quantile_band(ours_t[:, j], p), _quantile_band(theirs[:, j], p)
            assert a[0] <= b[1] and b[0] <= a[1], (name, p)        # the two bands overlap
            assert a[0] <= ci.iloc[j, side] <= a[1]
            assert b[0] <= REF["boot"]["ci"][j][side] <= b[1]


def test_pbmodcomp_of_glmms(cbpp, gfit):
    small = ml.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, family="binomial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = ml.pbmodcomp(gfit, small, nsim=5, seed=1, progress=False)
    assert table.loc["LRT", "stat"] == pytest.approx(ml.anova(small, gfit)["Chisq"].iloc[1], rel=1e-12)
    assert table.loc["PBtest", "p.value"] == pytest.approx(1 / 6)   # no simulated LRT reaches 25.6 on 3 df


# ---------------------------------------------------------------- anova of GLMMs

def test_anova_of_glmms_checks_the_response(cbpp, gfit):
    small = ml.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, family="binomial")
    assert ml.anova(small, gfit)["Df"].iloc[1] == 3
    other = cbpp.assign(incidence=cbpp["incidence"].where(cbpp.index != 0, 0))
    changed = ml.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", other, family="binomial")
    with pytest.raises(ValueError, match="same response"):
        ml.anova(changed, gfit)
    more_trials = ml.glmer("cbind(incidence, size + 1 - incidence) ~ 1 + (1 | herd)", cbpp, family="binomial")
    with pytest.raises(ValueError, match="same response"):
        ml.anova(more_trials, gfit)
    shorter = ml.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp.iloc[:50], family="binomial")
    with pytest.raises(ValueError, match="same size of dataset"):
        ml.anova(shorter, gfit)


# ---------------------------------------------------------------- no fixed effects

@pytest.fixture(scope="module")
def lmer0():
    return ml.lmer(REF["no_fixed"]["lmer"]["formula"], ml.load_dataset("sleepstudy"))


@pytest.fixture(scope="module")
def glmer0(cbpp):
    return ml.glmer(REF["no_fixed"]["glmer"]["formula"], cbpp, family="binomial")


def test_lmer_without_fixed_effects_matches_lme4(lmer0):
    ref = REF["no_fixed"]["lmer"]
    assert lmer0.REML is ref["REML"] is False                    # with p = 0 lme4 fits by ML
    assert lmer0.objective == pytest.approx(ref["deviance"], rel=1e-5)
    np.testing.assert_allclose(lmer0.theta, ref["theta"], rtol=1e-4)
    assert lmer0.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    np.testing.assert_allclose(lmer0.ranef()["Subject"].head(6), ref["ranef_head"], rtol=1e-4)


def test_summary_without_fixed_effects(lmer0, glmer0):
    for text in (str(lmer0.summary()), str(lmer0.summary(ddf="Satterthwaite")), str(glmer0.summary())):
        assert "Fixed effects" not in text and "Correlation of Fixed Effects" not in text
        assert text.rstrip().splitlines()[-1].startswith("Number of obs:")
    assert str(lmer0.summary()).startswith("Linear mixed model fit by maximum likelihood")
    assert "  1840.8   1853.6   -916.4   1832.8      176" in str(lmer0.summary())   # lme4's line
    assert "   238.7    240.8   -118.4    236.7       55" in str(glmer0.summary())
    assert lmer0.summary().coefficients.empty and glmer0.summary().coefficients.empty


def test_accessors_without_fixed_effects(lmer0, glmer0, cbpp):
    sleep = ml.load_dataset("sleepstudy")
    lmer_rows = ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject", "sd_Days|Subject", "sigma"]
    for m, data, rows in ((lmer0, sleep, lmer_rows), (glmer0, cbpp, ["sd_(Intercept)|herd"])):
        assert m.fixef().empty and m.vcov().shape == (0, 0)
        ranef = next(iter(m.ranef().values()))
        pd.testing.assert_frame_equal(next(iter(m.coef().values())), ranef)
        np.testing.assert_allclose(m.predict(re_form="~0"), 0.0)
        conditional = m.predict(newdata=data.head(3))
        np.testing.assert_allclose(conditional, m.predict().head(3))
        wald = m.confint()
        assert list(wald.index) == rows and wald.isna().all().all()     # no Wald intervals for variances
    np.testing.assert_allclose(glmer0.predict(newdata=cbpp.head(2), re_form="~0", type="response"), 0.5)
    ref = REF["no_fixed"]["glmer"]
    assert glmer0.loglik() == pytest.approx(ref["logLik"], rel=1e-5)
    np.testing.assert_allclose(glmer0.theta, ref["theta"], rtol=1e-4)
    np.testing.assert_allclose(glmer0.ranef()["herd"]["(Intercept)"], ref["ranef"], atol=1e-3)


def test_inference_without_fixed_effects(lmer0, glmer0, cbpp):
    ref = REF["no_fixed"]["lmer"]
    profile = lmer0.confint(method="profile")
    assert list(profile.index) == ref["profile_names"]
    np.testing.assert_allclose(profile.to_numpy(), ref["profile"], rtol=1e-3)   # issue 3's tolerance for lmer
    table = ml.anova(lmer0, ml.lmer("Reaction ~ 1 + (Days | Subject)", ml.load_dataset("sleepstudy")), quiet=True)
    assert table["Df"].iloc[1] == 1
    with_intercept = ml.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, family="binomial")
    assert ml.anova(glmer0, with_intercept)["Df"].iloc[1] == 1
    boot = glmer0.confint(method="boot", nsim=4, seed=1, progress=False)
    assert list(boot.index) == ["sd_(Intercept)|herd"] and boot.notna().all().all()
