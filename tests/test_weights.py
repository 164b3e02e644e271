"""lmer(weights=): prior weights against lme4 1.1-31 (residual variance of observation i: sigma^2 / w_i).

Reference: tests/fixtures/lme4_options_weights.json, written by tests/fixtures/lme4_options.R
(lme4 refitted with tight nloptwrap tolerances, "tight").  Tolerances: objective 1e-5 relative
(measured: 1e-14), estimates, SEs, theta, sigma, fitted values and residuals 1e-4 relative.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import mixedlite as ml
from references import relative_error

FITS = json.loads((Path(__file__).parent / "fixtures" / "lme4_options_weights.json").read_text())["fits"]


def weighted_fit(name, **kwargs):
    spec = FITS[name]
    return ml.lmer(spec["formula"], ml.load_dataset(spec["data"]), REML=spec["REML"], weights=np.array(spec["w"]),
                   **kwargs)


@pytest.mark.parametrize("name", list(FITS))
def test_weighted_fit_matches_lme4(name):
    m, ref = weighted_fit(name), FITS[name]["tight"]
    assert relative_error(m.objective, ref["objective"]) < 1e-5
    assert relative_error(m.fixef(), ref["beta"]) < 1e-4
    assert relative_error(np.sqrt(np.diag(m.vcov())), ref["se"]) < 1e-4
    assert relative_error(m.theta, ref["theta"]) < 1e-4
    assert relative_error(m.sigma, ref["sigma"]) < 1e-4
    assert relative_error(m.fitted()[:20], ref["fitted_head"]) < 1e-4
    assert relative_error(m.residuals()[:20], ref["resid_head"]) < 1e-4
    assert relative_error(m.residuals("pearson")[:20], ref["pearson_resid_head"]) < 1e-4
    for level, values in zip(m.ranef(), ref["ranef_head"].values()):
        assert np.allclose(m.ranef()[level].to_numpy()[:5], values, rtol=1e-4, atol=1e-4 * np.abs(values).max())


def test_weights_by_column_name_and_unit_weights():
    d = ml.load_dataset("sleepstudy")
    d["w"] = 1 + d["Days"] % 3
    by_name = ml.lmer("Reaction ~ Days + (Days | Subject)", d, weights="w")
    by_array = ml.lmer("Reaction ~ Days + (Days | Subject)", d, weights=d["w"].to_numpy())
    assert np.allclose(by_name.fixef(), by_array.fixef()) and by_name.objective == by_array.objective
    unweighted = ml.lmer("Reaction ~ Days + (Days | Subject)", d)
    ones = ml.lmer("Reaction ~ Days + (Days | Subject)", d, weights=np.ones(len(d)))
    assert np.isclose(ones.objective, unweighted.objective, rtol=1e-12)
    assert relative_error(by_name.fixef(), FITS["sleepstudy_slopes_reml"]["tight"]["beta"]) < 1e-4


def test_weighted_refit_and_simulation():
    """The bootstrap's refit reuses the weighted cross-products; simulated noise has variance sigma^2 / w."""
    m = weighted_fit("sleepstudy_slopes_reml")
    y = m.simulate(1, seed=3)["sim_1"].to_numpy()
    fresh_data = ml.load_dataset("sleepstudy").assign(Reaction=y)
    w = np.array(FITS["sleepstudy_slopes_reml"]["w"])
    fresh = ml.lmer("Reaction ~ Days + (Days | Subject)", fresh_data, weights=w)
    assert np.isclose(m.refit(y).objective, fresh.objective, rtol=1e-7)
    noise = m.simulate(400, seed=1).to_numpy() - m.simulate(400, seed=1).to_numpy().mean(axis=1, keepdims=True)
    spread = noise.var(axis=1)  # includes the random effects' variation, identical for w = 1 and w = 3 rows
    assert spread[w == 1].mean() > spread[w == 3].mean() + 0.5 * m.sigma**2 * (1 - 1 / 3)


@pytest.mark.parametrize("bad, message", [(-1.0, "positive, finite"), (np.inf, "positive, finite"),
                                          (0.0, "positive, finite")])
def test_bad_weights(bad, message):
    d = ml.load_dataset("sleepstudy")
    w = np.ones(len(d))
    w[5] = bad
    with pytest.raises(ValueError, match=message):
        ml.lmer("Reaction ~ Days + (1 | Subject)", d, weights=w)


def test_weights_of_the_wrong_length_or_missing_column():
    d = ml.load_dataset("sleepstudy")
    with pytest.raises(ValueError, match="one value per row"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", d, weights=np.ones(3))
    with pytest.raises(KeyError, match="weights column 'nope'"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", d, weights="nope")


@pytest.mark.parametrize("name", ["sleepstudy_slopes_reml", "penicillin_crossed_reml"])
def test_weighted_satterthwaite_matches_lmertest(name):
    """lmerTest's Satterthwaite df work from the (weighted) deviance function: df and p within 1e-3."""
    ref = FITS[name]["tight"]["satterthwaite"]
    table = ml.coefficient_tests(weighted_fit(name), "Satterthwaite")
    assert relative_error(table["df"], ref["df"]) < 1e-3
    assert relative_error(table["Pr(>|t|)"], ref["p"]) < 1e-3
