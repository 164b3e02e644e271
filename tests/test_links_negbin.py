"""glmer links (probit, cloglog, sqrt, log) and glmer_nb against lme4 1.1-31.

References: tests/fixtures/lme4_options_links.json and lme4_options_negbin.json, written by
tests/fixtures/lme4_options.R (lme4 refitted with tight nloptwrap tolerances, "tight").
Tolerances (issue 11): deviance (-2 logLik) 1e-5 relative; fixed effects and SEs 1e-4 relative;
the negative-binomial theta 1e-4 relative.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedlite as ml
from mixedlite.families import LINKS, get_family

FIXTURES = Path(__file__).parent / "fixtures"
LINK_FITS = json.loads((FIXTURES / "lme4_options_links.json").read_text())["fits"]
NB_FITS = json.loads((FIXTURES / "lme4_options_negbin.json").read_text())["fits"]


def relative_error(actual, expected):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))


@pytest.fixture(scope="module")
def link_fits():
    out = {}
    for name, spec in LINK_FITS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error", ml.ConvergenceWarning)
            out[name] = ml.glmer(spec["formula"], ml.load_dataset(spec["data"]), family=spec["family"],
                                 link=spec["link"])
    return out


@pytest.mark.parametrize("name", list(LINK_FITS))
def test_link_matches_lme4(link_fits, name):
    m, ref = link_fits[name], LINK_FITS[name]["tight"]
    assert m.link == LINK_FITS[name]["link"]
    assert relative_error(m.objective, ref["objective"]) < 1e-5
    assert relative_error(m.deviance(), ref["deviance_fn"]) < 1e-5
    assert list(m.fixef().index) == ref["beta_names"]
    assert relative_error(m.fixef(), ref["beta"]) < 1e-4
    assert relative_error(np.sqrt(np.diag(m.vcov())), ref["se"]) < 1e-4
    assert relative_error(m.fitted().to_numpy()[:20], ref["fitted_head"]) < 1e-4


def test_probit_and_cloglog_differ_from_logit(link_fits):
    """The link changes the fit: a binomial probit coefficient is about logit / 1.7."""
    logit = ml.glmer(LINK_FITS["cbpp_probit"]["formula"], ml.load_dataset("cbpp"), family="binomial")
    probit = link_fits["cbpp_probit"].fixef()
    assert 1.5 < logit.fixef()["(Intercept)"] / probit["(Intercept)"] < 2.0
    assert "probit" in str(link_fits["cbpp_probit"].summary())


@pytest.mark.parametrize("name", list(LINKS))
def test_link_inverse_and_derivative(name):
    link = LINKS[name]()
    mu = np.array([0.05, 0.3, 0.5, 0.9])
    eta = link.linkfun(mu)
    assert np.allclose(link.linkinv(eta), mu)
    step = 1e-6
    numeric = (link.linkinv(eta + step) - link.linkinv(eta - step)) / (2 * step)
    assert np.allclose(link.mu_eta(eta), numeric, rtol=1e-6)


@pytest.mark.parametrize("family, link", [("binomial", "log"), ("binomial", "sqrt"), ("poisson", "logit"),
                                          ("poisson", "probit"), ("binomial", "inverse")])
def test_link_the_family_does_not_have(family, link):
    with pytest.raises(ValueError, match=f"no '{link}' link: use link="):
        get_family(family, link)
    with pytest.raises(ValueError, match=f"the {family} family has no '{link}' link"):
        ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.load_dataset("cbpp"),
                 family=family, link=link)
