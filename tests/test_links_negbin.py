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
import pandas as pd
import pytest

import mixedlite as ml
from references import relative_error
from mixedlite.core.families import LINKS, get_family

FIXTURES = Path(__file__).parent / "fixtures"
LINK_FITS = json.loads((FIXTURES / "lme4_options_links.json").read_text())["fits"]
NB_FITS = json.loads((FIXTURES / "lme4_options_negbin.json").read_text())["fits"]


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


@pytest.mark.parametrize("name", list(LINKS))
def test_linkinv_mu_eta_gives_the_numbers_of_linkinv_and_mu_eta(name):
    """PIRLS takes both at once (one exp for the logit and log links): the same bits as the two calls,
    inside and beyond the logit link's saturation threshold (|eta| > 30)."""
    link = LINKS[name]()
    rng = np.random.default_rng(13)
    for eta in (rng.uniform(-8, 8, 500), np.r_[rng.uniform(-8, 8, 50), -31.0, 30.0, 45.0]):
        if name in ("sqrt", "identity"):
            eta = np.abs(eta) + 0.1  # the mean must stay positive
        mu, mu_eta = link.linkinv_mu_eta(eta)
        assert np.array_equal(mu, link.linkinv(eta)) and np.array_equal(mu_eta, link.mu_eta(eta))


@pytest.mark.parametrize("family, link", [("binomial", "log"), ("binomial", "sqrt"), ("poisson", "logit"),
                                          ("poisson", "probit"), ("binomial", "inverse")])
def test_link_the_family_does_not_have(family, link):
    with pytest.raises(ValueError, match=f"no '{link}' link: use link="):
        get_family(family, link)
    with pytest.raises(ValueError, match=f"the {family} family has no '{link}' link"):
        ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.load_dataset("cbpp"),
                 family=family, link=link)


# ---------------------------------------------------------------- glmer_nb


def _nb_fit(name, **kwargs):
    spec = NB_FITS[name]
    data = ml.load_dataset(spec["data"])
    offset = np.log(data["size"].to_numpy(dtype=float)) if spec["offset"] else None  # spec: offset = log(size)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.ConvergenceWarning)
        return ml.glmer_nb(spec["formula"], data, offset=offset, **kwargs)


@pytest.fixture(scope="module")
def nb_fits():
    return {name: _nb_fit(name) for name in NB_FITS}


@pytest.mark.parametrize("name", list(NB_FITS))
def test_glmer_nb_deviance_and_theta_match_lme4(nb_fits, name):
    """Against lme4's glmer.nb as users call it (defaults) and refitted tightly."""
    m = nb_fits[name]
    for ref in (NB_FITS[name]["default"], NB_FITS[name]["tight"]):
        assert relative_error(m.objective, ref["objective"]) < 1e-5
        assert relative_error(m.nb_theta, ref["nb_theta"]) < 1e-4
        assert m.df == ref["df"]
        assert relative_error(m.aic(), ref["AIC"]) < 1e-5
    assert m.family == NB_FITS[name]["exact"]["family"]
    assert m.family in str(m.summary())


@pytest.mark.parametrize("name", list(NB_FITS))
def test_glmer_nb_matches_lme4_with_converged_pirls(nb_fits, name):
    """lme4 with tolPwrss = 1e-12 evaluates the exact Laplace approximation, as glmer_nb does."""
    m, ref = nb_fits[name], NB_FITS[name]["exact"]
    assert relative_error(m.objective, ref["objective"]) < 1e-7
    assert m.objective <= ref["objective"] + 1e-6
    assert relative_error(m.nb_theta, ref["nb_theta"]) < 1e-5
    assert relative_error(m.fixef(), ref["beta"]) < 1e-4
    assert relative_error(np.sqrt(np.diag(m.vcov())), ref["se"]) < 1e-4
    assert relative_error(m.theta, ref["theta"]) < 1e-4
    assert relative_error(m.deviance(), ref["deviance_fn"]) < 1e-5


def test_glmer_nb_with_lme4_pirls_rule():
    m = _nb_fit("cbpp_nb", tolPwrss=1e-7)
    ref = NB_FITS["cbpp_nb"]["tight"]
    assert relative_error(m.objective, ref["objective"]) < 1e-7
    assert relative_error(m.nb_theta, ref["nb_theta"]) < 1e-4


def test_negative_binomial_family_is_mass():
    """MASS's negative.binomial: variance mu + mu^2 / theta, -2 log dnbinom, and mean-mu draws."""
    from scipy import stats
    from mixedlite.core.families import NegativeBinomial, Poisson
    fam = NegativeBinomial(2.5)
    y, mu = np.array([0.0, 1, 4, 10]), np.array([0.5, 2.0, 3.0, 7.0])
    logpmf = stats.nbinom.logpmf(y, 2.5, 2.5 / (2.5 + mu))
    assert np.isclose(fam.minus_two_loglik(y, mu, np.ones(4), np.ones(4)), -2 * logpmf.sum())
    assert np.allclose(fam.variance(mu), mu + mu**2 / 2.5)
    draws = fam.simulate(np.full((1, 20000), 3.0), np.ones(1), np.random.default_rng(1))
    assert abs(draws.mean() - 3.0) < 0.05 and abs(draws.var() - (3 + 9 / 2.5)) < 0.3
    with pytest.raises(ValueError, match="theta must be a positive number"):
        NegativeBinomial(-1.0)
    # theta -> infinity is the Poisson: no digits lost to cancellation on the way
    poisson, huge = Poisson(), NegativeBinomial(1e9)
    ones = np.ones(4)
    assert np.isclose(huge.minus_two_loglik(y, mu, ones, ones), poisson.minus_two_loglik(y, mu, ones, ones),
                      rtol=1e-8)
    assert np.allclose(huge.dev_resid(y, mu, ones), poisson.dev_resid(y, mu, ones), rtol=1e-7)


def test_glmer_nb_bad_link():
    with pytest.raises(ValueError, match="the poisson family has no 'logit' link"):
        ml.glmer_nb("TICKS ~ YEAR + (1 | BROOD)", ml.load_dataset("grouseticks"), link="logit")


def test_glmer_nb_on_poisson_counts_warns_theta_at_the_edge():
    """Counts with no overdispersion: theta runs to the edge of lme4's interval, and we say so."""
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(25), 12)
    y = rng.poisson(np.exp(1.5 + rng.normal(0, 0.4, 25)[g]))
    data = pd.DataFrame({"y": y, "g": g.astype(str)})
    with pytest.warns(ml.ConvergenceWarning, match="at the edge of its search interval"):
        ml.glmer_nb("y ~ 1 + (1 | g)", data)


def test_poisson_identity_link():
    """lme4 1.1-31 stops with "PIRLS loop resulted in NaN value" on such data (no reference): mixedlite
    says what went wrong, and with start= values fits the linear mean it was simulated from."""
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(20), 10)
    x = rng.uniform(0, 2, 200)
    data = pd.DataFrame({"y": rng.poisson(3 + 2 * x + rng.normal(0, 0.7, 20)[g]), "x": x, "g": g.astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="with the identity link .* pass start= values"):
            ml.glmer("y ~ x + (1 | g)", data, family="poisson", link="identity")
    m = ml.glmer("y ~ x + (1 | g)", data, family="poisson", link="identity", start=[0.2, 3.0, 2.0])
    assert m.link == "identity"
    assert np.allclose(m.fixef(), [3.0, 2.0], atol=0.5)
    assert np.allclose(m.fitted(), m.predict(type="response")) and np.allclose(m.fitted(), m.predict())
