"""statsmodels' MixedLM tests against lme4, ported to mixedlite.

Source: statsmodels/regression/tests/test_lme.py at statsmodels commit 82c59e378bdfb5ae324006c477954879ad3e24be
(BSD-3-Clause).  The expected numbers are lme4's (``results/lme_results.R`` wrote
``results/lme_r_results.py``; the dietox, pastes and vcomp tests quote lme4's output in comments).
Data: ``tests/peer/data/statsmodels/`` (copied from ``statsmodels/regression/tests/results/``),
or regenerated here with statsmodels' own ``np.random.RandomState`` seeds.  Every assertion
keeps statsmodels' tolerance; its line number is given as ``test_lme.py:LINE``.
"""
import runpy

import numpy as np
import pandas as pd
import pytest

import mixedlite as ml
from peer_checks import DATA, allclose, almost_equal, covariance_matrix, quietly

SM = DATA / "statsmodels"
R_RESULTS = runpy.run_path(str(SM / "lme_r_results.py"))

# ---------------------------------------------------------------- test_r / do1 (test_lme.py:835-900)
# 12 simulated datasets; lmer with dependent (drf, one block) or independent (irf, one term per
# random effect) random effects, by ML and REML.  irf only where there are two random effects.

DO1_CASES = [(ds, reml, irf) for ds in range(12) for reml in (False, True) for irf in (False, True)
             if not (irf and ds < 6)]


def do1_formula(data, irf):
    fe = [c for c in data.columns if c.startswith("exog_fe")]
    re = [c for c in data.columns if c.startswith("exog_re")]
    if irf:
        random = " + ".join(f"(0 + {c} | groups)" for c in re)
    else:
        random = f"(0 + {' + '.join(re)} | groups)"
    return f"endog ~ 0 + {' + '.join(fe)} + {random}", re


_DO1 = {}


def do1_fit(ds, reml, irf):
    key = (ds, reml, irf)
    if key not in _DO1:
        data = pd.read_csv(SM / f"lme{ds:02d}.csv")
        formula, re = do1_formula(data, irf)
        _DO1[key] = quietly(ml.lmer, formula, data, REML=reml), re
    return _DO1[key]


def r_result(what, ds, reml, irf):
    return R_RESULTS[f"{what}_{'reml' if reml else 'ml'}_{'irf' if irf else 'drf'}_{ds}"]


def cov_re(model, re, irf):
    if not irf:
        return covariance_matrix(model, "groups").loc[re, re].to_numpy()
    vc = model.varcorr()
    return np.diag([vc[(vc.var1 == c) & vc.var2.isna() & (vc.grp != "Residual")].vcov.iloc[0] for c in re])


DO1_IDS = [f"lme{ds:02d}-{'reml' if reml else 'ml'}-{'irf' if irf else 'drf'}" for ds, reml, irf in DO1_CASES]


@pytest.mark.parametrize("ds,reml,irf", DO1_CASES, ids=DO1_IDS)
def test_do1_fixed_effects(ds, reml, irf):
    model, _ = do1_fit(ds, reml, irf)
    almost_equal(model.fixef(), r_result("coef", ds, reml, irf), decimal=4)  # test_lme.py:871


@pytest.mark.parametrize("ds,reml,irf", DO1_CASES, ids=DO1_IDS)
def test_do1_random_effects_covariance(ds, reml, irf):
    model, re = do1_fit(ds, reml, irf)
    almost_equal(cov_re(model, re, irf), r_result("cov_re", ds, reml, irf), decimal=4)  # test_lme.py:872


@pytest.mark.parametrize("ds,reml,irf", DO1_CASES, ids=DO1_IDS)
def test_do1_scale(ds, reml, irf):
    model, _ = do1_fit(ds, reml, irf)
    almost_equal(model.sigma ** 2, r_result("scale", ds, reml, irf), decimal=4)  # test_lme.py:873


@pytest.mark.parametrize("ds,reml,irf", DO1_CASES, ids=DO1_IDS)
def test_do1_vcov(ds, reml, irf):
    model, _ = do1_fit(ds, reml, irf)
    almost_equal(r_result("vcov", ds, reml, irf), model.vcov().to_numpy(), decimal=3)  # test_lme.py:876


@pytest.mark.parametrize("ds,reml,irf", DO1_CASES, ids=DO1_IDS)
def test_do1_loglik(ds, reml, irf):
    model, _ = do1_fit(ds, reml, irf)
    almost_equal(model.loglik(), r_result("loglike", ds, reml, irf)[0], decimal=2)  # test_lme.py:878


DRF = [(ds, reml, irf) for ds, reml, irf in DO1_CASES if not irf]


@pytest.mark.parametrize("ds,reml,irf", DRF, ids=[i for i, c in zip(DO1_IDS, DO1_CASES) if not c[2]])
def test_do1_conditional_modes_and_variances(ds, reml, irf):
    """test_lme.py:882-883: the first group's conditional modes and conditional covariance.
    mixedlite exposes the conditional SDs (lme4's as.data.frame(ranef(condVar = TRUE))), so the
    diagonal of the conditional covariance is compared."""
    model, re = do1_fit(ds, reml, irf)
    first = model.ranef()["groups"].iloc[0][re]
    almost_equal(first, r_result("ranef_mean", ds, reml, irf), decimal=3)  # test_lme.py:882
    tidy = model.ranef(condVar=True)
    level = model.ranef()["groups"].index[0]
    sd = tidy[tidy.grp == level].set_index("term").loc[re, "condsd"]
    condvar = np.atleast_2d(r_result("ranef_condvar", ds, reml, irf))
    almost_equal(sd ** 2, np.diag(condvar), decimal=3)  # test_lme.py:883 (diagonal)


# ---------------------------------------------------------------- dietox (test_lme.py:411-530)


@pytest.fixture(scope="module")
def dietox():
    return pd.read_csv(SM / "dietox.csv", index_col=0)


def test_dietox_intercept_reml(dietox):
    m = quietly(ml.lmer, "Weight ~ Time + (1 | Pig)", dietox)
    allclose(m.fixef(), np.r_[15.723523, 6.942505], rtol=1e-5)  # test_lme.py:430
    allclose(np.sqrt(np.diag(m.vcov())), np.r_[0.78805374, 0.03338727], rtol=1e-5)  # test_lme.py:433
    allclose(m.sigma ** 2, 11.36692, rtol=1e-5)  # test_lme.py:436
    allclose(covariance_matrix(m, "Pig").iloc[0, 0], 40.39395, rtol=1e-5)  # test_lme.py:439
    allclose(m.loglik(), -2404.775, rtol=1e-5)  # test_lme.py:442


def test_dietox_intercept_ml(dietox):
    m = quietly(ml.lmer, "Weight ~ Time + (1 | Pig)", dietox, REML=False)
    allclose(m.fixef(), np.r_[15.723517, 6.942506], rtol=1e-5)  # test_lme.py:450
    allclose(np.sqrt(np.diag(m.vcov())), np.r_[0.7829397, 0.0333661], rtol=1e-5)  # test_lme.py:453
    allclose(m.sigma ** 2, 11.35251, rtol=1e-5)  # test_lme.py:456
    allclose(covariance_matrix(m, "Pig").iloc[0, 0], 39.82097, rtol=1e-5)  # test_lme.py:459
    allclose(m.loglik(), -2402.932, rtol=1e-5)  # test_lme.py:462


def test_dietox_slopes_reml(dietox):
    m = quietly(ml.lmer, "Weight ~ Time + (1 + Time | Pig)", dietox)
    allclose(m.fixef(), np.r_[15.738650, 6.939014], rtol=1e-5)  # test_lme.py:488
    allclose(np.sqrt(np.diag(m.vcov())), np.r_[0.5501253, 0.0798254], rtol=1e-3)  # test_lme.py:491
    allclose(m.sigma ** 2, 6.03745, rtol=1e-3)  # test_lme.py:494
    allclose(covariance_matrix(m, "Pig").to_numpy().ravel(),
             np.r_[19.4934552, 0.2938323, 0.2938323, 0.4160620], rtol=1e-1)  # test_lme.py:497
    allclose(m.loglik(), -2217.047, rtol=1e-5)  # test_lme.py:504


def test_dietox_slopes_ml(dietox):
    m = quietly(ml.lmer, "Weight ~ Time + (1 + Time | Pig)", dietox, REML=False)
    allclose(m.fixef(), np.r_[15.73863, 6.93902], rtol=1e-5)  # test_lme.py:514
    allclose(np.sqrt(np.diag(m.vcov())), np.r_[0.54629282, 0.07926954], rtol=1e-3)  # test_lme.py:517
    allclose(m.sigma ** 2, 6.037441, rtol=1e-3)  # test_lme.py:520
    allclose(covariance_matrix(m, "Pig").to_numpy().ravel(),
             np.r_[19.190922, 0.293568, 0.293568, 0.409695], rtol=1e-2)  # test_lme.py:523
    allclose(m.loglik(), -2215.753, rtol=1e-5)  # test_lme.py:530


# ---------------------------------------------------------------- pastes (test_lme.py:532-605)
# statsmodels fits batch + batch:cask as a variance component: lmer(strength ~ (1|batch) + (1|batch:cask)).


@pytest.fixture(scope="module")
def pastes():
    return pd.read_csv(SM / "pastes.csv", index_col=0)


def test_pastes_reml(pastes):
    m = quietly(ml.lmer, "strength ~ 1 + (1 | batch) + (1 | batch:cask)", pastes)
    allclose(m.fixef().iloc[0], 60.0533, rtol=1e-3)  # test_lme.py:554
    allclose(np.sqrt(m.vcov().iloc[0, 0]), 0.6769, rtol=1e-3)  # test_lme.py:557
    allclose(covariance_matrix(m, "batch").iloc[0, 0], 1.657, rtol=1e-3)  # test_lme.py:560
    allclose(m.sigma ** 2, 0.678, rtol=1e-3)  # test_lme.py:563
    allclose(m.loglik(), -123.49, rtol=1e-1)  # test_lme.py:566
    resid = np.r_[0.17133538, -0.02866462, -1.08662875, 1.11337125, -0.12093607]
    allclose(m.residuals().iloc[0:5], resid, rtol=1e-3)  # test_lme.py:574
    fit = np.r_[62.62866, 62.62866, 61.18663, 61.18663, 62.82094]
    allclose(m.fitted().iloc[0:5], fit, rtol=1e-4)  # test_lme.py:578


def test_pastes_ml(pastes):
    m = quietly(ml.lmer, "strength ~ 1 + (1 | batch) + (1 | batch:cask)", pastes, REML=False)
    allclose(m.fixef().iloc[0], 60.0533, rtol=1e-3)  # test_lme.py:587
    allclose(np.sqrt(m.vcov().iloc[0, 0]), 0.642, rtol=1e-3)  # test_lme.py:590
    allclose(covariance_matrix(m, "batch").iloc[0, 0], 1.199, rtol=1e-3)  # test_lme.py:593
    allclose(m.sigma ** 2, 0.67799, rtol=1e-3)  # test_lme.py:596
    allclose(m.loglik(), -123.997, rtol=1e-1)  # test_lme.py:599
    allclose(m.aic(), 255.9944, rtol=1e-3)  # test_lme.py:602
    allclose(m.bic(), 264.3718, rtol=1e-3)  # test_lme.py:605


# ---------------------------------------------------------------- simulated data (RandomState seeds)


def vcomp_2_data():
    """test_lme.py:277-320, statsmodels' own simulation (np.random.RandomState(6241))."""
    rs = np.random.RandomState(6241)
    n = 1600
    exog = rs.normal(size=(n, 2))
    groups = np.kron(np.arange(n / 16), np.ones(16))
    errors = 0
    exog_re = rs.normal(size=(n, 2))
    slopes = rs.normal(size=(n // 16, 2))
    slopes = np.kron(slopes, np.ones((16, 1))) * exog_re
    errors += slopes.sum(1)
    subgroups1 = np.kron(np.arange(n / 4), np.ones(4))
    errors += np.kron(2 * rs.normal(size=n // 4), np.ones(4))
    subgroups2 = np.kron(np.arange(n / 2), np.ones(2))
    errors += np.kron(2 * rs.normal(size=n // 2), np.ones(2))
    errors += rs.normal(size=n)
    endog = exog.sum(1) + errors
    return pd.DataFrame({"y": endog, "groups": groups, "x1": exog[:, 0], "x2": exog[:, 1],
                         "z1": exog_re[:, 0], "z2": exog_re[:, 1], "v1": subgroups1, "v2": subgroups2})


def test_vcomp_2_against_r():
    """test_lme.py:317-349: R's lmer(y ~ x1 + x2 + (0 + z1 + z2 | groups) + (1 | v1) + (1 | v2))."""
    m = quietly(ml.lmer, "y ~ x1 + x2 + (0 + z1 + z2 | groups) + (1 | v1) + (1 | v2)", vcomp_2_data())
    allclose(m.fixef(), [0.16527, 0.99911, 0.96217], rtol=1e-4)  # test_lme.py:346
    allclose(covariance_matrix(m, "groups").loc[["z1", "z2"], ["z1", "z2"]], [[1.244, 0.146], [0.146, 1.371]],
             rtol=1e-3)  # test_lme.py:347
    vc = m.varcorr().set_index("grp")
    allclose([vc.loc["v1", "vcov"], vc.loc["v2", "vcov"]], [4.024, 3.997], rtol=1e-3)  # test_lme.py:348
    allclose(np.sqrt(np.diag(m.vcov()))[0:3], [0.12610, 0.03938, 0.03848], rtol=1e-3)  # test_lme.py:349


def test_vcomp_3_residuals_and_fitted_values():
    """test_lme.py:351-378: y ~ 1 with a variance component for the slope of x1 within groups,
    lmer's y ~ 1 + (0 + x1 | groups)."""
    rs = np.random.RandomState(4279)
    x1 = rs.normal(size=400)
    groups = np.kron(np.arange(100), np.ones(4))
    slopes = rs.normal(size=100)
    slopes = np.kron(slopes, np.ones(4)) * x1
    y = slopes + rs.normal(size=400)
    df = pd.DataFrame({"y": y, "x1": x1, "groups": groups})
    m = quietly(ml.lmer, "y ~ 1 + (0 + x1 | groups)", df)
    allclose(m.residuals().iloc[0:4], np.r_[-1.180753, 0.279966, 0.578576, -0.667916], rtol=1e-3)  # test_lme.py:369
    allclose(m.fitted().iloc[0:4], np.r_[-0.101549, 0.028613, -0.224621, -0.126295], rtol=1e-3)  # test_lme.py:374
