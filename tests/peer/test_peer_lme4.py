"""lme4's own tests, ported to mixedlite: the numeric assertions about lmer/glmer fits, VarCorr,
ranef, residuals, predictions and Wald intervals.

Source: https://github.com/lme4/lme4 at commit 32b5bfdc7cc53ef87b241be501e30ccada7ce817 (GPL >= 2);
each assertion names its file and line (``test-lmer.R:49`` is ``tests/testthat/test-lmer.R``,
``lmer-1.R:51`` is ``tests/lmer-1.R``) and keeps its tolerance: R's ``all.equal`` /
testthat's ``expect_equal`` rule (mean relative difference), default tolerance 1.5e-8.
Data: lme4's datasets (bundled with mixedlite), or ``tests/peer/data/lme4/*.csv`` written by
``tests/peer/make_peer_data.R`` from the tests' own seeded R code.  Where lme4's expected value
comes from a fit with default (or deliberately loose) tolerances and mixedlite reaches the
optimum, the original assertion is kept as xfail(strict) and the same assertion against lme4's
tight-tolerance refit (``fixtures/lme4_tight.json``) passes beside it.
"""
import numpy as np
import pandas as pd
import pytest

import mixedlite as ml
from peer_checks import DATA, load_fixture, quietly, r_all_equal

LME4 = DATA / "lme4"
TIGHT = load_fixture("lme4_tight")
DEFAULT_TOL = 1.5e-8  # all.equal's and testthat's default tolerance


def loose_lme4(reason):
    return pytest.mark.xfail(strict=True, reason=f"lme4's expected value comes from {reason}; "
                                                 "the tight-tolerance refit is checked beside it")


def factors(d, *columns):
    for c in columns:
        d[c] = d[c].astype(str).astype("category")
        if all(v.isdigit() for v in d[c].cat.categories):  # R's factor(1:k) level order
            d[c] = d[c].cat.reorder_categories(sorted(d[c].cat.categories, key=int))
    return d


# ---------------------------------------------------------------- tests/testthat/test-lmer.R: Dyestuff


@pytest.fixture(scope="module")
def dyestuff():
    fm1 = quietly(ml.lmer, "Yield ~ (1 | Batch)", ml.load_dataset("Dyestuff"))  # lme4's test writes Yield ~ 1|Batch
    return fm1, fm1.refit_ml()


def test_lmer_bare_bar_formula():
    fm1 = quietly(ml.lmer, "Yield ~ 1|Batch", ml.load_dataset("Dyestuff"))  # test-lmer.R:28, lmer-1.R:65
    r_all_equal(1527.5, fm1.fixef())  # test-lmer.R:37


def test_lmer_dyestuff_fixef(dyestuff):
    r_all_equal(1527.5, dyestuff[0].fixef())  # test-lmer.R:37 is_equivalent_to(1527.5)


def test_lmer_dyestuff_varcorr(dyestuff):
    r_all_equal(1764.0375195, dyestuff[0].varcorr().vcov.iloc[0], 1e-5)  # test-lmer.R:39


def test_lmer_dyestuff_varcorr_tight(dyestuff):
    r_all_equal(TIGHT["dyestuff"]["varcorr"], dyestuff[0].varcorr().vcov.iloc[0], 1e-5)  # test-lmer.R:39, tight


def test_lmer_dyestuff_reml_function(dyestuff):
    fm1 = dyestuff[0]
    r_all_equal(319.792389042002, fm1.criterion(np.array([1.0])))  # test-lmer.R:45 REMLfun(1)
    r_all_equal(326.023232155879, fm1.criterion(np.array([0.0])))  # test-lmer.R:46 REMLfun(0)


def test_lmer_dyestuff_criteria(dyestuff):
    fm1, fm1ML = dyestuff
    assert fm1.REML and not fm1ML.REML  # test-lmer.R:42, 48
    r_all_equal(319.654276842342, fm1.objective)  # test-lmer.R:49 REMLcrit
    r_all_equal(327.327059881135, fm1ML.objective)  # test-lmer.R:50 deviance(fm1ML)


def test_lmer_dyestuff_sigma(dyestuff):
    r_all_equal(49.5101272946856, dyestuff[0].sigma, 1e-6)  # test-lmer.R:52


def test_lmer_dyestuff_sigma_tight(dyestuff):
    r_all_equal(TIGHT["dyestuff"]["sigma"], dyestuff[0].sigma, 1e-6)  # test-lmer.R:52, tight


def test_lmer_dyestuff_ml_sigma_and_aic(dyestuff):
    fm1, fm1ML = dyestuff
    r_all_equal(49.5100999308089, fm1ML.sigma)  # test-lmer.R:54
    for model in (fm1, fm1ML):  # test-lmer.R:55-56 extractAIC: the ML refit's edf and AIC
        ml_fit = model.refit_ml() if model.REML else model
        r_all_equal([3, 333.327059881135], [ml_fit.df, ml_fit.aic()])


def test_lmer_dyestuff_vcov(dyestuff):
    r_all_equal(375.714676744, dyestuff[0].vcov().iloc[0, 0], 1e-5)  # test-lmer.R:58


def test_lmer_dyestuff_vcov_tight(dyestuff):
    r_all_equal(TIGHT["dyestuff"]["vcov"], dyestuff[0].vcov().iloc[0, 0], 1e-5)  # test-lmer.R:58, tight


def test_lmer_dyestuff_ml_vcov(dyestuff):
    r_all_equal(313.09721874266, dyestuff[1].vcov().iloc[0, 0], 1e-7)  # test-lmer.R:60


def test_lmer_refit_dyestuff2(dyestuff):
    fm2 = quietly(dyestuff[0].refit, ml.load_dataset("Dyestuff2")["Yield"].to_numpy())
    r_all_equal(5.6656, fm2.fixef())  # test-lmer.R:63
    r_all_equal(0, fm2.varcorr().vcov.iloc[0])  # test-lmer.R:64
    r_all_equal(0, fm2.theta)  # test-lmer.R:65


def test_lmer_dyestuff_theta(dyestuff):
    r_all_equal(0.84832031, dyestuff[0].theta, 6e-6)  # test-lmer.R:74 (bobyqa: 0.8483237982)


@pytest.fixture(scope="module")
def mix1():
    d = factors(pd.read_csv(LME4 / "coef_lmer.csv"), "var1", "var3")
    return quietly(ml.lmer, "resp ~ 0 + var1 + var1:var2 + (1|var3)", d)


def test_lmer_fixef_with_terms_missing_from_fixed_effects(mix1):
    r_all_equal([0.2703951, 0.3832911, 0.451279, 0.6528842, 0.6109819,
                 0.4949802, 0.1222705, 0.08702069, -0.2856431, -0.01596725], mix1.fixef(), 6e-6)  # test-lmer.R:300


def test_lmer_coef_columns_with_terms_missing_from_fixed_effects(mix1):
    n1 = [f"var1{i}" for i in range(1, 6)]
    assert list(mix1.coef()["var3"].columns) == ["(Intercept)"] + n1 + [f"{n}:var2" for n in n1]  # test-lmer.R:297


# ---------------------------------------------------------------- tests/testthat/test-glmer.R: cbpp


@pytest.fixture(scope="module")
def cbpp_gm1():
    return quietly(ml.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.load_dataset("cbpp"),
                   family="binomial")


def test_glmer_cbpp(cbpp_gm1):
    gm1 = cbpp_gm1
    r_all_equal([-1.39854982537216, -0.992335519118859, -1.12867532780426, -1.58030423764517],
                gm1.fixef(), 5e-4)  # test-glmer.R:47
    r_all_equal(0.41245527438386, gm1.varcorr().vcov.iloc[0], 6e-4)  # test-glmer.R:50
    r_all_equal(73.47428, gm1.deviance(), 1e-5)  # test-glmer.R:53
    r_all_equal(1, gm1.sigma)  # test-glmer.R:55
    r_all_equal([5, 194.052674598026], [gm1.df, gm1.aic()], 1e-5)  # test-glmer.R:56
    r_all_equal(0.642226809144453, gm1.theta, 6e-4)  # test-glmer.R:58


def test_glmer_agq_standard_errors_issue_47():
    d = pd.read_csv(LME4 / "issue47.csv")
    gm3 = quietly(ml.glmer, "event ~ group + (1 | id)", d, family="binomial", nAGQ=21)
    sd3 = np.sqrt(np.diag(gm3.vcov()))
    r_all_equal([0.42542855, 0.42492581], sd3, 1e-5)  # test-glmer.R:220
    r_all_equal(sd3, gm3.summary().coefficients["Std. Error"])  # test-glmer.R:225


# ---------------------------------------------------------------- tests/testthat/test-resids.R


@pytest.fixture(scope="module")
def sleep_slopes():
    return quietly(ml.lmer, "Reaction ~ Days + (Days|Subject)", ml.load_dataset("sleepstudy"))


@loose_lme4("a fit with optCtrl = list(xtol_abs = 1e-6, ftol_abs = 1e-6) (test-resids.R:3)")
def test_lmer_residual_range(sleep_slopes):
    r = sleep_slopes.residuals()
    r_all_equal([-101.17996, 132.54664], [r.min(), r.max()], 1e-6)  # test-resids.R:12


def test_lmer_residual_range_tight(sleep_slopes):
    r = sleep_slopes.residuals()
    r_all_equal(TIGHT["sleepstudy_slopes"]["resid_range"], [r.min(), r.max()], 1e-6)  # test-resids.R:12, tight
    s = sleep_slopes.residuals(scaled=True)
    r_all_equal(TIGHT["sleepstudy_slopes"]["scaled_resid_range"], [s.min(), s.max()], 1e-6)  # test-resids.R:13, tight


@loose_lme4("a fit with optCtrl = list(xtol_abs = 1e-6, ftol_abs = 1e-6) (test-resids.R:3)")
def test_lmer_scaled_residual_range(sleep_slopes):
    s = sleep_slopes.residuals(scaled=True)
    r_all_equal([-3.9536067, 5.1792598], [s.min(), s.max()], 1e-6)  # test-resids.R:13


@pytest.fixture(scope="module")
def cbpp_proportion():
    return quietly(ml.glmer, "incidence/size ~ period + (1|herd)", ml.load_dataset("cbpp"), family="binomial",
                   weights="size")


def _range(model, kind):
    r = model.residuals(kind)
    return [r.min(), r.max()]


@pytest.mark.xfail(strict=True, reason="lme4's expected range comes from an older lme4 fit (its test-glmer.R:56 "
                                       "AIC 194.052674598 means -2 logLik 184.0526746); lme4 1.1-31 gives "
                                       "184.0531328 with default and with tight controls, as mixedlite does; "
                                       "the tight refit's range is checked beside it")
def test_glmer_deviance_residual_range(cbpp_proportion):
    r_all_equal([-3.1975034, 2.35668826], _range(cbpp_proportion, "deviance"), 1e-6)  # test-resids.R:40


def test_glmer_deviance_residual_range_tight(cbpp_proportion):
    r_all_equal(TIGHT["cbpp"]["resid_range"], _range(cbpp_proportion, "deviance"), 1e-6)  # test-resids.R:40, tight


OLD_CBPP = ("lme4's expected values come from an older lme4 fit (-2 logLik 184.0526746, test-glmer.R:56); "
            "lme4 1.1-31 reaches 184.0531328 with default and tight controls, mixedlite 4e-9 lower still; at this "
            "flat optimum the residuals move by ~1e-6 relative, so the default tolerance 1.5e-8 cannot hold "
            "against any refit (lme4's tight refit differs from its own default fit by as much)")


@pytest.mark.xfail(strict=True, reason=OLD_CBPP)
@pytest.mark.parametrize("kind,expected,line", [
    ("response", [-0.194674747774946, 0.318458889275477], 42),
    ("pearson", [-2.38163599828335, 2.87908806084918], 44),
    ("working", [-1.24173431447365, 5.41064465283686], 46)])
def test_glmer_residual_ranges(cbpp_proportion, kind, expected, line):
    r_all_equal(expected, _range(cbpp_proportion, kind))  # test-resids.R:42, 44, 46 (default tolerance)


def test_glmer_scaled_residuals(cbpp_proportion):
    gm1 = cbpp_proportion
    r_all_equal(gm1.residuals(), gm1.residuals(scaled=True))  # test-resids.R:47


# ---------------------------------------------------------------- tests/testthat/test-predict.R


def test_predict_penicillin():
    fm3 = quietly(ml.lmer, "diameter ~ (1|plate) + (1|sample)", ml.load_dataset("Penicillin"))
    p0 = fm3.predict()
    r_all_equal([25.9638, 22.7663, 25.7147, 23.6799, 23.7629, 20.773], np.round(p0[:6], 4))  # test-predict.R:109
    p1 = fm3.predict(re_form="~0")
    r_all_equal(22.9722222222251, np.unique(np.round(p1, 10)))  # test-predict.R:114


def test_predict_sleepstudy_random_slopes(sleep_slopes):
    d = ml.load_dataset("sleepstudy")
    head = lambda p: np.round(np.asarray(p)[:6], 3)
    r_all_equal([253.664, 273.33, 292.996, 312.662, 332.329, 351.995], head(sleep_slopes.predict(d)))  # :178
    r_all_equal([251.405, 261.872, 272.34, 282.807, 293.274, 303.742],
                head(sleep_slopes.predict(d, re_form="~0")))  # test-predict.R:179


def test_predict_sleepstudy_subset_of_random_terms(sleep_slopes):
    d = ml.load_dataset("sleepstudy")
    head = lambda p: np.round(np.asarray(p)[:6], 3)
    r_all_equal([251.405, 271.071, 290.738, 310.404, 330.07, 349.736],
                head(sleep_slopes.predict(d, re_form="~(0+Days|Subject)")))  # test-predict.R:180
    r_all_equal([253.664, 264.131, 274.598, 285.066, 295.533, 306],
                head(sleep_slopes.predict(d, re_form="~(1|Subject)")))  # test-predict.R:182


# ---------------------------------------------------------------- tests/testthat/test-ranef.R


@pytest.fixture(scope="module")
def two_terms():
    return quietly(ml.lmer, "Reaction ~ Days + (1|Subject) + (0+Days | Subject)", ml.load_dataset("sleepstudy"))


def _rows_1_and_19(model):
    tidy = model.ranef(condVar=True)
    return tidy.iloc[[0, 18]]


@loose_lme4("a fit with optCtrl = list(xtol_abs = 1e-6, ftol_abs = 1e-6) (test-ranef.R:60)")
def test_ranef_two_terms_on_one_factor(two_terms):
    rows = _rows_1_and_19(two_terms)
    assert list(rows.term) == ["(Intercept)", "Days"] and list(rows.grp) == ["308", "308"]  # test-ranef.R:65
    r_all_equal([1.5116973008, 9.32373076098, 12.238845590, 2.33546851406],
                np.r_[rows.condval, rows.condsd], 1e-5)  # test-ranef.R:65


def test_ranef_two_terms_on_one_factor_tight(two_terms):
    rows = _rows_1_and_19(two_terms)
    t = TIGHT["sleepstudy_two_terms"]
    r_all_equal(np.r_[t["condval"], t["condsd"]], np.r_[rows.condval, rows.condsd], 1e-5)  # test-ranef.R:65, tight


def test_ranef_conditional_variances(two_terms):
    tidy = two_terms.ranef(condVar=True)
    postvar = [tidy[tidy.term == t].condsd.to_numpy() ** 2 for t in ("(Intercept)", "Days")]
    r_all_equal(np.r_[np.full(18, 149.79166), np.full(18, 5.4543894)], np.r_[postvar[0], postvar[1]], 1e-4)  # :77


# ---------------------------------------------------------------- tests/testthat/test-methods.R


def test_wald_confint_random_intercept():
    fm1 = quietly(ml.lmer, "Reaction ~ Days + (1|Subject)", ml.load_dataset("sleepstudy"))
    ci = fm1.confint(method="Wald").loc[["(Intercept)", "Days"]]
    r_all_equal([232.301892, 8.891041, 270.508318, 12.043531], np.r_[ci["2.5 %"], ci["97.5 %"]], 1e-5)  # :318


# ---------------------------------------------------------------- tests/lmer-1.R


@pytest.fixture(scope="module")
def sleep_fits(sleep_slopes):
    fm2 = quietly(ml.lmer, "Reaction ~ Days + (1|Subject) + (0+Days|Subject)", ml.load_dataset("sleepstudy"))
    return sleep_slopes, fm2


def test_lmer1_balanced_fixed_effects(sleep_fits):
    fm1, fm2 = sleep_fits
    r_all_equal(fm1.fixef(), fm2.fixef(), 1e-13)  # lmer-1.R:49
    r_all_equal([251.405104848485, 10.467285959595], fm1.fixef(), 1e-13)  # lmer-1.R:51
    vv = fm1.vcov().to_numpy()
    r_all_equal(-0.1375, vv[0, 1] / np.sqrt(vv[0, 0] * vv[1, 1]), 4e-4)  # lmer-1.R:54


def test_lmer1_information_criteria_of_ml_refits(sleep_fits):
    fm1ML, fm2ML = (m.refit_ml() for m in sleep_fits)
    r_all_equal([1763.94, 1762, 1783.1, 1777.97], [fm1ML.aic(), fm2ML.aic(), fm1ML.bic(), fm2ML.bic()], 1e-5)  # :62


def test_lmer1_dyestuff2_summary():
    fm3 = quietly(ml.lmer, "Yield ~ (1|Batch)", ml.load_dataset("Dyestuff2"))  # lme4: Yield ~ 1|Batch
    table = fm3.summary().coefficients.iloc[0]
    r_all_equal([5.6656, 0.67838803150, 8.3515624346], [table["Estimate"], table["Std. Error"], table["t value"]])  # :66


def test_lmer1_gelman_example():
    d = factors(pd.read_csv(LME4 / "gelman.csv"), "group.id")
    d = d.rename(columns={"group.id": "group_id"})
    fit = quietly(ml.lmer, "y ~ 1 + (1 | group_id)", d)
    r_all_equal(1.571312129, fit.fixef())  # lmer-1.R:144
    modes = fit.ranef()["group_id"]["(Intercept)"].to_numpy()
    r_all_equal([1.8046888, -1.8097665, 1.6146451, 1.5408268, -0.1331995,
                 -3.3306655, -1.8259277, -0.8735145, -0.3591311, 3.3720441], modes, 1e-5)  # lmer-1.R:145
    postvar = fit.ranef(condVar=True).condsd.to_numpy() ** 2
    r_all_equal(np.full(10, 0.311091076), postvar, 1e-5)  # lmer-1.R:147 (the postVar attribute)


@pytest.fixture(scope="module")
def lagoon():
    return factors(pd.read_csv(LME4 / "lagoon.csv"), "lagoon", "habitat")


def test_lmer1_unidentifiable_equivalent_models(lagoon):
    r1 = quietly(ml.lmer, "y ~ 0+habitat + (1|habitat:lagoon)", lagoon)
    r1b = quietly(ml.lmer, "y ~ 0+habitat + (1|habitat)", lagoon)
    r_all_equal(r1.fixef(), r1b.fixef(), 1e-15)  # lmer-1.R:195
    r_all_equal(r1.ranef()["habitat:lagoon"].to_numpy(), r1b.ranef()["habitat"].to_numpy(), 1e-15)  # lmer-1.R:196


def test_lmer1_lagoon_fixed_effects(lagoon):
    r2_0 = quietly(ml.lmer, "y ~ 0+lagoon + (1|habitat:lagoon)", lagoon)
    r2 = quietly(ml.lmer, "y ~ 0+lagoon + (1|habitat)", lagoon)
    r_all_equal(r2.fixef(), r2_0.fixef(), 1e-15)  # lmer-1.R:201
    r_all_equal(r2.ranef()["habitat"].to_numpy(), r2_0.ranef()["habitat:lagoon"].to_numpy(), 1e-15)  # lmer-1.R:202
    r_all_equal([1.72, 0.28, 1.76, 0.8], r2.fixef().to_numpy() - np.arange(1, 5) * 100, 1e-13)  # lmer-1.R:205


def test_lmer1_lagoon_vcov(lagoon):
    r2 = quietly(ml.lmer, "y ~ 0+lagoon + (1|habitat)", lagoon)
    r_all_equal(np.diag(np.full(4, 9.9833 / 3)), r2.vcov().to_numpy(), 1e-15)  # lmer-1.R:204 (assert.EQ.mat, tol 1e-15)


# ---------------------------------------------------------------- tests/profile-tst.R


@pytest.mark.xfail(strict=True, reason="lme4's expected value comes from its spline interpolation of the profile: "
                                       "the exact root of zeta(sigma) = -1.96, with lme4's own deviance (R: "
                                       "make_profile_root.R), is 38.2301233, 3.6e-6 above lme4's confint 38.229985 "
                                       "(rounded in the test to exp(3.64362)); mixedlite's 38.2301233 is 4e-12 from "
                                       "it. Checked against the exact root beside it")
def test_profile_confint_dyestuff_ml():
    fm01ML = quietly(ml.lmer, "Yield ~ (1|Batch)", ml.load_dataset("Dyestuff"), REML=False)  # profile-tst.R:33
    ci = fm01ML.confint(method="profile")
    r_all_equal(np.exp([3.64362, 4.21446]), ci.loc["sigma"].to_numpy(), 1e-6)  # profile-tst.R:48


def test_profile_confint_dyestuff_ml_exact_root():
    fm01ML = quietly(ml.lmer, "Yield ~ (1|Batch)", ml.load_dataset("Dyestuff"), REML=False)  # profile-tst.R:33
    ci = fm01ML.confint(method="profile")
    exact = load_fixture("profile_root")["dyestuff_ml_sigma"]["exact_root"]
    r_all_equal(exact, ci.loc["sigma"].to_numpy(), 1e-6)  # profile-tst.R:48, against the exact root
    r_all_equal([1486.451500, 1568.548494], ci.loc["(Intercept)"].to_numpy())  # profile-tst.R:49


# ---------------------------------------------------------------- tests/glmer-1.R


def test_glmer_agq25_cbpp():
    m2 = quietly(ml.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.load_dataset("cbpp"),
                 family="binomial", nAGQ=25)
    assert m2.coef()["herd"].shape == (15, 4)  # glmer-1.R:81
    r_all_equal([-1.39922533406847, -0.991407294757321, -1.12782184600404, -1.57946627431248],
                m2.fixef(), 5e-4)  # glmer-1.R:82
    r_all_equal(100.010030538022, -2 * m2.loglik(), 1e-9)  # glmer-1.R:90
    r_all_equal(73.373, m2.deviance(), 1e-5)  # glmer-1.R:91


# ---------------------------------------------------------------- tests/offset.R


@pytest.fixture(scope="module")
def offset_data():
    return pd.read_csv(LME4 / "offset.csv")


def test_lmer_offset_in_formula(offset_data):
    d = offset_data.rename(columns={"y_gaussian": "y"})
    fm1 = quietly(ml.lmer, "y~x+(1|block)", d)
    fm1off = quietly(ml.lmer, "y~x+(1|block)+offset(3*x)", d)
    r_all_equal(fm1.fixef().iloc[1] - 3, fm1off.fixef().iloc[1])  # offset.R:23
    p0, p1, p2 = fm1.predict(), fm1.predict(d), fm1off.predict(d)
    r_all_equal(p0, p1)  # offset.R:28
    r_all_equal(p1, p2)  # offset.R:29


def test_glmer_offset_in_formula(offset_data):
    d = offset_data.rename(columns={"y_poisson": "y"})
    gm1 = quietly(ml.glmer, "y~x+(1|block)", d, family="poisson")
    gm1off = quietly(ml.glmer, "y~x+(1|block)+offset(3*x)", d, family="poisson")
    r_all_equal(gm1.fixef().iloc[1] - 3, gm1off.fixef().iloc[1], 3e-4)  # offset.R:42
    r_all_equal(gm1.predict(), gm1.predict(d))  # offset.R:47
    r_all_equal(gm1.predict(d), gm1off.predict(d))  # offset.R:48


def test_glmer_offset_argument(offset_data):
    """offset.R:42-48 with the offset given as glmer's offset= argument (mixedlite's form)."""
    d = offset_data.rename(columns={"y_poisson": "y"}).assign(off=lambda t: 3 * t["x"])
    gm1 = quietly(ml.glmer, "y~x+(1|block)", d, family="poisson")
    gm1off = quietly(ml.glmer, "y~x+(1|block)", d, family="poisson", offset="off")
    r_all_equal(gm1.fixef().iloc[1] - 3, gm1off.fixef().iloc[1], 3e-4)  # offset.R:42
    r_all_equal(gm1.predict(), gm1.predict(d))  # offset.R:47
    r_all_equal(gm1.predict(d), gm1off.predict(d))  # offset.R:48


# ---------------------------------------------------------------- tests/confint.R


def test_wald_confint_random_slopes(sleep_slopes):
    c0 = sleep_slopes.confint(method="Wald")
    r_all_equal([7.437592, 13.496980], c0.loc["Days"].to_numpy(), 1e-6)  # confint.R:13 (fit_sleepstudy_2)


# ---------------------------------------------------------------- tests/lmer-0.R


@pytest.fixture(scope="module")
def buhr():
    """lmer-0.R:17-20 (bug found by Kevin Buhr): lmer(log(y) ~ x | z), i.e. y ~ 1 + (x | z)."""
    return quietly(ml.lmer, "log(y) ~ (x | z)", pd.read_csv(LME4 / "buhr.csv"))


def test_lmer0_bare_bar_formula():
    fm = quietly(ml.lmer, "log(y) ~ x | z", pd.read_csv(LME4 / "buhr.csv"))  # lmer-0.R:20
    r_all_equal(-0.834544, fm.fixef(), 0.01)  # lmer-0.R:23


def test_lmer0_fixef_and_vcov(buhr):
    r_all_equal(-0.834544, buhr.fixef(), 0.01)  # lmer-0.R:23
    r_all_equal(0.1760782, np.diag(buhr.vcov()), 9e-5)  # lmer-0.R:43 (lme4 >= 1.1-27's nloptwrap value)


def test_lmer0_vcov_and_its_cholesky_factor(sleep_slopes):
    v1 = sleep_slopes.vcov().to_numpy()
    r_all_equal([46.5751, 2.38947], np.diag(v1), 40e-5)  # lmer-0.R:47
    c1 = np.linalg.cholesky(v1).T  # R's chol(): upper triangular, compared column-major
    r_all_equal([6.82377, 0, -0.212575, 1.53127], c1.ravel(order="F"), 20e-5)  # lmer-0.R:50
