"""Formula features against R: model.matrix columns and values, and lme4 fits that use them.

Fixtures: ``tests/fixtures/formula/formula_reference.json`` and ``synthetic.csv``, written by
``tests/fixtures/formula/make_formula_fixtures.R`` (R 4 / lme4 1.1-31).  Estimates are compared
with lme4 refitted with tight tolerances (``tight``); the objective may only be lower than lme4's.
"""
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedlite as ml
from mixedlite.core.formula import model_matrix

HERE = pathlib.Path(__file__).parent / "fixtures" / "formula"
REFERENCE = json.loads((HERE / "formula_reference.json").read_text())
OBJECTIVE_RTOL, ESTIMATE_RTOL = 1e-5, 1e-4


def dataset(name):
    if name == "synthetic":
        return pd.read_csv(HERE / "synthetic.csv")
    return ml.load_dataset(name)


@pytest.mark.parametrize("name", sorted(REFERENCE["model_matrix"]))
def test_model_matrix_matches_r(name):
    ref = REFERENCE["model_matrix"][name]
    data = dataset(ref["dataset"])
    state = {}
    X = model_matrix(ref["rhs"], data, contrasts=ref["contrasts"], state=state)
    assert list(X.columns) == ref["columns"]
    values = np.array(ref["values"], dtype=float)  # every row, or the first rows of a large data set
    np.testing.assert_allclose(X.to_numpy()[: len(values)], values, rtol=1e-10, atol=1e-12)
    if "newdata" in ref:  # stateful transforms: the training centre, scale and poly coefficients
        new = model_matrix(ref["rhs"], pd.DataFrame(ref["newdata"]), contrasts=ref["contrasts"], state=state)
        np.testing.assert_allclose(new.to_numpy(), np.array(ref["new_values"], dtype=float), rtol=1e-10, atol=1e-12)


def fit(ref):
    data = dataset(ref["dataset"])
    kwargs = {"contrasts": ref["contrasts"]}
    if ref["offset"]:
        kwargs["offset"] = ref["offset"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        if ref["family"]:
            return ml.glmer(ref["formula"], data, family=ref["family"], **kwargs)
        return ml.lmer(ref["formula"], data, REML=ref["REML"], **kwargs)


FITS = {}


def fitted(name):
    if name not in FITS:
        FITS[name] = fit(REFERENCE["fits"][name])
    return FITS[name]


def as_list(value):
    """jsonlite writes a vector of length one as a scalar."""
    return value if isinstance(value, list) else [value]


def close(actual, expected, rtol):
    """Relative agreement.  Where lme4 estimates a variance parameter as exactly 0 (a singular fit), the
    fit may stop within 1e-6 of the boundary (lme4's isSingular threshold is 1e-4)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    at_zero = expected == 0
    np.testing.assert_allclose(actual[~at_zero], expected[~at_zero], rtol=rtol, atol=0)
    np.testing.assert_array_less(np.abs(actual[at_zero]), 1e-6)


@pytest.mark.parametrize("name", sorted(REFERENCE["fits"]))
def test_objective_and_names_match_lme4(name):
    ref, m = REFERENCE["fits"][name], fitted(name)
    tight = ref["tight"]
    assert m.objective == pytest.approx(tight["objective"], rel=OBJECTIVE_RTOL)
    assert m.objective == pytest.approx(ref["default"]["objective"], rel=OBJECTIVE_RTOL)
    assert list(m.fixef().index) == list(tight["beta"])
    assert list(m.theta.index) == list(tight["theta"])


@pytest.mark.parametrize("name", sorted(REFERENCE["fits"]))
def test_estimates_match_lme4(name):
    ref, m = REFERENCE["fits"][name], fitted(name)
    tight = ref["tight"]
    close(m.fixef(), list(tight["beta"].values()), ESTIMATE_RTOL)
    close(np.sqrt(np.diag(m.vcov())), list(tight["se"].values()), ESTIMATE_RTOL)
    close(m.theta, list(tight["theta"].values()), ESTIMATE_RTOL)


@pytest.mark.parametrize("name", sorted(REFERENCE["fits"]))
def test_names_follow_lme4(name):
    ref, m = REFERENCE["fits"][name], fitted(name)
    vc, expected = m.varcorr(), ref["tight"]["varcorr"]
    assert list(vc["grp"]) == as_list(expected["grp"])
    assert [None if pd.isna(v) else v for v in vc["var1"]] == as_list(expected["var1"])
    assert [None if pd.isna(v) else v for v in vc["var2"]] == as_list(expected["var2"])
    close(vc["sdcor"].fillna(0), [0 if v is None else v for v in as_list(expected["sdcor"])], ESTIMATE_RTOL)
    assert list(m.ranef()) == as_list(ref["tight"]["ranef_groups"])
    assert {g: list(t.index) for g, t in m.ranef().items()} == {
        g: as_list(levels) for g, levels in ref["tight"]["ranef_levels"].items()}
    assert {g: list(t.columns) for g, t in m.coef().items()} == {
        g: as_list(c) for g, c in ref["tight"]["coef_columns"].items()}


@pytest.mark.parametrize("name", sorted(n for n, f in REFERENCE["fits"].items() if "newdata" in f))
def test_predict_newdata_matches_lme4(name):
    """New data are coded as the fitted data: offsets evaluated on them, scale()/poly() with training parameters."""
    ref, m = REFERENCE["fits"][name], fitted(name)
    new = pd.DataFrame(ref["newdata"])
    # lme4 1.1-31 drops an offset= argument's values from predict(newdata) (lme4 issue #447); mixedlite keeps
    # them (as it does offset() terms and as fitted() does), so add them to lme4's numbers
    argument = new[ref["offset"]].to_numpy(dtype=float) if ref["offset"] else 0.0
    close(m.predict(new, allow_new_levels=True), np.add(ref["predict_tight"], argument), ESTIMATE_RTOL)
    close(m.predict(new, re_form="~0"), np.add(ref["predict_population"], argument), ESTIMATE_RTOL)


@pytest.mark.parametrize("fit_with", [
    lambda contrasts: ml.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", ml.load_dataset("cake"),
                              REML=False, contrasts=contrasts),  # REML's log|RX| depends on the coding
    lambda contrasts: ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.load_dataset("cbpp"),
                               family="binomial", nAGQ=0, contrasts=contrasts),
], ids=["lmer", "glmer"])
def test_contrasts_reparametrise_the_same_model(fit_with):
    """Every contrast spans the same columns as treatment: the same optimum and fitted values, and
    sum-contrast estimates are the level means' deviations from their mean."""
    treatment = fit_with(None)
    factor = treatment.design.X.columns[1][:-1]  # recipe, period
    for kind in ("sum", "helmert", "SAS", "poly", "contr.sum"):
        other = fit_with({factor: kind})
        assert other.objective == pytest.approx(treatment.objective, rel=1e-9), kind
        np.testing.assert_allclose(other.fitted(), treatment.fitted(), rtol=1e-6, err_msg=kind)
    summed = fit_with({factor: "sum"})
    k = 1 + sum(c.startswith(factor) and ":" not in c for c in summed.design.X.columns)  # levels
    b = treatment.fixef().to_numpy()
    means = b[0] + np.r_[0, b[1:k]]  # treatment: level j's intercept is b0 + b_j
    np.testing.assert_allclose(summed.fixef().to_numpy()[:k], np.r_[means.mean(), (means - means.mean())[:-1]],
                               rtol=1e-5, atol=1e-6)
