"""The APA helpers, checked against the clinic tutorial's write-up (numbers from our own fits)."""

import numpy as np
import pytest

import mixedlite as ml
from mixedlite import report


@pytest.fixture(scope="module")
def clinic_models():
    d = ml.load_dataset("clinic_anxiety")
    m0 = ml.lmer("anxiety ~ therapy_sessions + (1 | clinic)", d)
    m1 = ml.lmer("anxiety ~ therapy_sessions + (therapy_sessions | clinic)", d)
    return m0, m1


def test_apa_p_and_r():
    assert report.apa_p(0.0004) == "p < .001"
    assert report.apa_p(0.0234) == "p = .023"
    assert report.apa_p(0.5) == "p = .500"
    with pytest.raises(ValueError):
        report.apa_p(1.5)
    assert report.apa_r(0.548) == ".55"
    assert report.apa_r(-0.2) == "-.20"
    assert report.apa_r(0.4475, 3) == ".448"


def test_fixed_effect_stats_wald_and_satterthwaite(clinic_models):
    _, m1 = clinic_models
    wald = report.fixed_effect_stats(m1, "therapy_sessions", ddf=None)
    assert wald["estimate"] == pytest.approx(-1.4297, abs=1e-3)
    assert wald["se"] == pytest.approx(0.09193, abs=1e-4)
    assert np.isnan(wald["df"])
    assert wald["lower"] < wald["estimate"] < wald["upper"]
    with pytest.raises(KeyError, match="not a fixed effect"):
        report.fixed_effect_stats(m1, "sessions")


def test_random_structure_in_words(clinic_models):
    m0, m1 = clinic_models
    assert report.random_structure(m0) == "random intercepts by clinic"
    assert report.random_structure(m1) == "correlated random intercepts and slopes for therapy_sessions by clinic"
    sleep = ml.lmer("Reaction ~ Days + (Days || Subject)", ml.load_dataset("sleepstudy"))
    assert report.random_structure(sleep) == "uncorrelated random intercepts and slopes for Days by Subject"


def test_paragraph_carries_the_tutorials_numbers(clinic_models):
    m0, m1 = clinic_models
    text0 = report.apa_paragraph(m0, "therapy_sessions", group_noun="clinic", ddf=None)
    for piece in ["b = -1.41", "z = -23.61", "p < .001", "variance 31.08", "variance 38.37", "was .448",
                  "300 observations from 15 clinics", "converged without warnings"]:
        assert piece in text0, piece
    text1 = report.apa_paragraph(m1, "therapy_sessions", group_noun="clinic", ddf=None,
                                 comparison=ml.anova(m0, m1))
    for piece in ["b = -1.43", "variance 0.0763", "r = .55", "\u03c7\u00b2(2) = 14.00", "fitted significantly better"]:
        assert piece in text1, piece
    assert "intercepts SD = 3.45 (variance 11.89)" in text1  # lme4: 11.88699


def test_paragraph_flags_a_singular_fit():
    with pytest.warns(ml.SingularFitWarning):
        m = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.load_dataset("Dyestuff2"))
    text = report.apa_paragraph(m, "(Intercept)", ddf=None)
    assert "must be resolved before reporting" in text
