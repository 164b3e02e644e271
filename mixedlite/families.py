"""Response distributions of a generalized linear mixed model: binomial and Poisson.

A family gives, for the conditional distribution of y given the random effects,

* the link ``eta = g(mu)`` and its inverse (logit for the binomial, log for the Poisson),
* ``mu_eta = d mu / d eta`` and the variance function ``V(mu)``: PIRLS weights ``w mu_eta^2 / V``,
* deviance residuals: ``sum(dev_resid)`` is the deviance of a GLM,
* ``minus_two_loglik``: ``-2 log p(y | mu)`` with every constant (R's ``family$aic``), which is
  what lme4's Laplace approximation adds to ``|u|^2 + log|L|^2``.

Binomial responses are carried as R's ``glm`` carries them: ``y`` is the proportion of
successes and the prior weight ``wt`` the number of trials.  R's link functions clamp
extreme linear predictors; so do we, to get the same numbers.
"""
import numpy as np
from scipy.special import gammaln

EPS = np.finfo(float).eps
THRESH = 30.0  # R's logit link: |eta| beyond this is treated as saturated
INVEPS = 1 / EPS


def _ylogy(y, mu):
    """``y log(y / mu)``, with 0 for y = 0."""
    y = np.asarray(y, dtype=float)
    out = np.zeros_like(y)
    positive = y > 0
    out[positive] = y[positive] * np.log(y[positive] / mu[positive])
    return out


class Family:
    name = ""
    link = ""

    def __repr__(self):
        return f"{self.name}({self.link})"


class Binomial(Family):
    """Bernoulli / binomial responses with the logit link."""

    name, link = "binomial", "logit"

    def linkfun(self, mu):
        return np.log(mu / (1 - mu))

    def linkinv(self, eta):
        t = np.where(eta < -THRESH, EPS, np.where(eta > THRESH, INVEPS, np.exp(np.clip(eta, -THRESH, THRESH))))
        return t / (1 + t)

    def mu_eta(self, eta):
        e = np.exp(np.clip(eta, -THRESH, THRESH))
        return np.where(np.abs(eta) > THRESH, EPS, e / (1 + e) ** 2)

    def variance(self, mu):
        return mu * (1 - mu)

    def dev_resid(self, y, mu, wt):
        return 2 * wt * (_ylogy(y, mu) + _ylogy(1 - y, 1 - mu))

    def minus_two_loglik(self, y, mu, wt, n):
        """R's ``binomial()$aic``: ``-2 sum log dbinom(round(m y), round(m), mu)``, m trials."""
        m = n if np.any(n > 1) else wt
        k, m_int = np.round(m * y), np.round(m)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(m > 0, wt / m, 0.0)
            log_choose = gammaln(m_int + 1) - gammaln(k + 1) - gammaln(m_int - k + 1)
            logp = (log_choose + np.where(k > 0, k * np.log(mu), 0.0)
                    + np.where(m_int - k > 0, (m_int - k) * np.log1p(-mu), 0.0))
        return -2 * np.sum(scale * logp)

    def mustart(self, y, wt):
        return (wt * y + 0.5) / (wt + 1)

    def simulate(self, mu, wt, rng):
        """Draws on the scale of y: proportions of ``wt`` trials (0/1 when wt = 1)."""
        trials = np.maximum(np.round(wt).astype(int), 0)[:, None]  # mu: (n, nsim)
        draws = rng.binomial(trials, mu)
        return np.where(trials > 0, draws / np.maximum(trials, 1), 0.0)


class Poisson(Family):
    """Counts with the log link."""

    name, link = "poisson", "log"

    def linkfun(self, mu):
        return np.log(mu)

    def linkinv(self, eta):
        return np.maximum(np.exp(eta), EPS)

    def mu_eta(self, eta):
        return np.maximum(np.exp(eta), EPS)

    def variance(self, mu):
        return mu

    def dev_resid(self, y, mu, wt):
        r = mu * wt
        positive = y > 0
        r[positive] = (wt * (y * np.log(np.where(positive, y, 1.0) / mu) - (y - mu)))[positive]
        return 2 * r

    def minus_two_loglik(self, y, mu, wt, n):
        """R's ``poisson()$aic``: ``-2 sum wt log dpois(y, mu)``."""
        return -2 * np.sum(wt * (y * np.log(mu) - mu - gammaln(y + 1)))

    def mustart(self, y, wt):
        return y + 0.1

    def simulate(self, mu, wt, rng):
        return rng.poisson(mu).astype(float)  # mu: (n, nsim)


FAMILIES = {"binomial": Binomial, "poisson": Poisson}


def get_family(family):
    """A :class:`Family` from its name (``"binomial"``, ``"poisson"``) or an instance."""
    if isinstance(family, Family):
        return family
    name = str(family).lower().replace("()", "")
    if name not in FAMILIES:
        raise ValueError(f"family {family!r} is not available: use family='binomial' (0/1 or successes out of "
                         "trials, logit link) or family='poisson' (counts, log link)")
    return FAMILIES[name]()
