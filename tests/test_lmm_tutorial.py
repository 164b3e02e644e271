"""The clinic tutorial's printed lme4 output, reproduced from the exact data (clinic_anxiety).

The numbers are lme4's as the tutorial prints them (shared/source/001_*), to the digits
printed; the tolerance is half a unit in the last printed digit, or 1e-4 relative, whichever
is larger.
"""
import warnings

import numpy as np
import pytest

import mixedlite as ml
from mixedlite.core.fitting import leaves_boundary_downhill


def close(value, printed, decimals):
    return abs(value - printed) <= max(0.5 * 10 ** -decimals, 1e-4 * abs(printed))


@pytest.fixture(scope="module")
def clinic():
    return ml.load_dataset("clinic_anxiety")


def test_random_intercept_model(clinic):
    m = ml.lmer("anxiety ~ therapy_sessions + (1 | clinic)", clinic)
    assert close(m.objective, 1987.4, 1)
    vc = m.varcorr().set_index("grp")
    assert close(vc.loc["clinic", "vcov"], 31.08, 2) and close(vc.loc["Residual", "vcov"], 38.37, 2)
    assert close(m.fixef()["(Intercept)"], 50.94217, 5) and close(m.fixef()["therapy_sessions"], -1.41266, 5)
    se = np.sqrt(np.diag(m.vcov()))
    assert close(se[0], 1.60141, 5) and close(se[1], 0.05985, 5)
    assert close(ml.icc(m), 0.448, 3)


def test_random_slope_model(clinic):
    m = ml.lmer("anxiety ~ therapy_sessions + (therapy_sessions | clinic)", clinic)
    assert close(m.objective, 1973.1, 1)
    vc = m.varcorr()
    assert close(vc.vcov[0], 11.88699, 5) and close(vc.sdcor[0], 3.4478, 4)
    assert close(vc.vcov[1], 0.07627, 5) and close(vc.sdcor[1], 0.2762, 4)
    assert close(vc.sdcor[2], 0.55, 2)
    assert close(vc.vcov[3], 35.84954, 5) and close(vc.sdcor[3], 5.9874, 4)
    assert close(m.fixef()["(Intercept)"], 51.01660, 5) and close(m.fixef()["therapy_sessions"], -1.42970, 5)
    se = np.sqrt(np.diag(m.vcov()))
    assert close(se[0], 1.11946, 5) and close(se[1], 0.09193, 5)


def test_likelihood_ratio_test_of_the_random_slope(clinic):
    ri = ml.lmer("anxiety ~ therapy_sessions + (1 | clinic)", clinic).refit_ml()
    rs = ml.lmer("anxiety ~ therapy_sessions + (therapy_sessions | clinic)", clinic).refit_ml()
    assert close(ri.aic(), 1994.2, 1) and close(rs.aic(), 1984.2, 1)
    assert close(ri.bic(), 2009.0, 1) and close(rs.bic(), 2006.4, 1)
    assert close(ri.loglik(), -993.08, 2) and close(rs.loglik(), -986.08, 2)
    assert close(2 * (rs.loglik() - ri.loglik()), 13.998, 3)


def test_false_boundary_is_left_downhill():
    """lme4's restart_edge test: a theta pushed onto its bound is recognised as not optimal."""
    m = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.load_dataset("sleepstudy"))
    on_edge = m._theta.copy()
    on_edge[0] = 0.0
    assert leaves_boundary_downhill(m.criterion, on_edge, m.design.theta_lower)
    assert not leaves_boundary_downhill(m.criterion, m._theta, m.design.theta_lower)
    with pytest.warns(ml.SingularFitWarning):
        singular = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.load_dataset("Dyestuff2"))
    assert not leaves_boundary_downhill(singular.criterion, singular._theta, singular.design.theta_lower)


@pytest.mark.parametrize("formula, dataset", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("anxiety ~ therapy_sessions + (therapy_sessions | clinic)", "clinic_anxiety"),
    ("strength ~ 1 + (1 | batch/cask)", "Pastes"),
])
def test_refit_ml_matches_a_direct_ml_fit(formula, dataset):
    data = ml.load_dataset(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refitted = ml.lmer(formula, data).refit_ml()
        direct = ml.lmer(formula, data, REML=False)
    assert refitted.objective <= direct.objective + 1e-6 * abs(direct.objective)
    assert refitted.objective == pytest.approx(direct.objective, rel=1e-6)
    np.testing.assert_allclose(refitted.fixef(), direct.fixef(), rtol=1e-4)
