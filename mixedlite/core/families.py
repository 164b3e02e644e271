"""Response distributions of a generalized linear mixed model and their link functions.

A family gives, for the conditional distribution of y given the random effects,

* the link ``eta = g(mu)`` and its inverse (:class:`Link`; R's ``make.link``),
* ``mu_eta = d mu / d eta`` and the variance function ``V(mu)``: PIRLS weights ``w mu_eta^2 / V``,
* deviance residuals: ``sum(dev_resid)`` is the deviance of a GLM,
* ``minus_two_loglik``: ``-2 log p(y | mu)`` with every constant (R's ``family$aic``), which is
  what lme4's Laplace approximation adds to ``|u|^2 + log|L|^2``.

PIRLS evaluates the last two for one response at many means: ``dev_resid_given(y, wt)`` and
``minus_two_loglik_given(y, wt, n)`` return them as functions of mu, with what depends on the
data alone (logarithms of y, binomial coefficients, log y!) computed once.

Families and their links (R's ``binomial(link = )``, ``poisson(link = )``, ``MASS::negative.binomial``):

=================  ========================  ====================================
family             links (first = default)   V(mu)
=================  ========================  ====================================
binomial           logit, probit, cloglog    mu (1 - mu)
poisson            log, sqrt, identity       mu
negative binomial  log, sqrt, identity       mu + mu^2 / theta  (theta fixed here)
=================  ========================  ====================================

Binomial responses are carried as R's ``glm`` carries them: ``y`` is the proportion of
successes and the prior weight ``wt`` the number of trials.  R's link functions clamp
extreme linear predictors; so do we, to get the same numbers.
"""
import numpy as np
from scipy import stats
from scipy.special import gammaln

EPS = np.finfo(float).eps
THRESH = 30.0  # R's logit link: |eta| beyond this is treated as saturated
INVEPS = 1 / EPS
PROBIT_THRESH = -stats.norm.ppf(EPS)  # R's probit link clamps eta to +-8.1


def _ylogy_given(y):
    """``mu -> y log(y / mu)``, with 0 for y = 0 (mu > 0: the links keep it there)."""
    y = np.asarray(y, dtype=float)
    positive = y > 0
    if positive.all():  # nothing to mask: the same numbers
        return lambda mu: y * np.log(y / mu)
    y_or_one = np.where(positive, y, 1.0)
    return lambda mu: np.where(positive, y * np.log(y_or_one / mu), 0.0)


# ---------------------------------------------------------------- links (R's make.link)


def _clamp(eta, bound):
    """``np.clip(eta, -bound, bound)``, without clip's dispatch (PIRLS calls it at every step)."""
    return np.minimum(np.maximum(eta, -bound), bound)


class Link:
    """``eta = linkfun(mu)``, ``mu = linkinv(eta)`` and ``mu_eta = d mu / d eta``."""

    name = ""

    def linkinv_mu_eta(self, eta):
        """``(linkinv(eta), mu_eta(eta))``: what each PIRLS step needs at a new linear predictor."""
        return self.linkinv(eta), self.mu_eta(eta)


class Logit(Link):
    """``eta = log(mu / (1 - mu))``."""

    name = "logit"

    def linkfun(self, mu):
        return np.log(mu / (1 - mu))

    def linkinv(self, eta):
        t = np.where(eta < -THRESH, EPS, np.where(eta > THRESH, INVEPS, np.exp(_clamp(eta, THRESH))))
        return t / (1 + t)

    def mu_eta(self, eta):
        e = np.exp(_clamp(eta, THRESH))
        return np.where(np.abs(eta) > THRESH, EPS, e / (1 + e) ** 2)

    def linkinv_mu_eta(self, eta):
        """Both from one ``exp(eta)`` where no ``|eta|`` exceeds the threshold: ``mu = e / (1 + e)``,
        ``mu_eta = e / (1 + e)^2``, the same numbers as :meth:`linkinv` and :meth:`mu_eta`."""
        if np.abs(eta).max(initial=0.0) > THRESH:
            return self.linkinv(eta), self.mu_eta(eta)
        e = np.exp(eta)
        one_plus_e = 1 + e
        return e / one_plus_e, e / one_plus_e**2


class Probit(Link):
    """``eta = Phi^-1(mu)``, Phi the standard normal distribution function."""

    name = "probit"

    def linkfun(self, mu):
        return stats.norm.ppf(mu)

    def linkinv(self, eta):
        return stats.norm.cdf(np.clip(eta, -PROBIT_THRESH, PROBIT_THRESH))

    def mu_eta(self, eta):
        return np.maximum(stats.norm.pdf(eta), EPS)


class Cloglog(Link):
    """Complementary log-log: ``eta = log(-log(1 - mu))``, so ``mu = 1 - exp(-exp(eta))``."""

    name = "cloglog"

    def linkfun(self, mu):
        return np.log(-np.log1p(-mu))

    def linkinv(self, eta):
        return np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)

    def mu_eta(self, eta):
        eta = np.minimum(eta, 700)
        return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), EPS)


class Log(Link):
    """``eta = log(mu)``."""

    name = "log"

    def linkfun(self, mu):
        return np.log(mu)

    def linkinv(self, eta):
        return np.maximum(np.exp(eta), EPS)

    def mu_eta(self, eta):
        return np.maximum(np.exp(eta), EPS)

    def linkinv_mu_eta(self, eta):
        """``mu = mu_eta = max(exp(eta), EPS)``: one array for both."""
        mu = self.linkinv(eta)
        return mu, mu


class Sqrt(Link):
    """``eta = sqrt(mu)``, so ``mu = eta^2``."""

    name = "sqrt"

    def linkfun(self, mu):
        return np.sqrt(mu)

    def linkinv(self, eta):
        return eta**2

    def mu_eta(self, eta):
        return 2 * eta


class Identity(Link):
    """``eta = mu``."""

    name = "identity"

    def linkfun(self, mu):
        return np.asarray(mu, dtype=float)

    def linkinv(self, eta):
        return np.asarray(eta, dtype=float)

    def mu_eta(self, eta):
        return np.ones_like(np.asarray(eta, dtype=float))


LINKS = {link.name: link for link in (Logit, Probit, Cloglog, Log, Sqrt, Identity)}


# ---------------------------------------------------------------- families


class Family:
    """A response distribution with one of its links (``links``; the first is R's default)."""

    name = ""
    links = ()

    def __init__(self, link=None):
        link = self.links[0] if link is None else str(link)
        if link not in self.links:
            raise ValueError(f"the {self.name} family has no {link!r} link: use link="
                             + " or ".join(repr(name) for name in self.links))
        self.link = link
        self._link = LINKS[link]()

    def linkfun(self, mu):
        return self._link.linkfun(mu)

    def linkinv(self, eta):
        return self._link.linkinv(eta)

    def mu_eta(self, eta):
        return self._link.mu_eta(eta)

    def linkinv_mu_eta(self, eta):
        return self._link.linkinv_mu_eta(eta)

    def dev_resid(self, y, mu, wt):
        """Deviance residuals: ``sum(dev_resid)`` is the deviance of a GLM with mean mu."""
        return self.dev_resid_given(y, wt)(mu)

    def minus_two_loglik(self, y, mu, wt, n):
        """``-2 log p(y | mu)`` with every constant (R's ``family$aic``); n: trials of a cbind response."""
        return self.minus_two_loglik_given(y, wt, n)(mu)

    def __repr__(self):
        return f"{self.name}({self.link})"


class Binomial(Family):
    """Bernoulli / binomial responses: successes out of ``wt`` trials."""

    name, links = "binomial", ("logit", "probit", "cloglog")

    def variance(self, mu):
        return mu * (1 - mu)

    def dev_resid_given(self, y, wt):
        successes, failures = _ylogy_given(y), _ylogy_given(1 - y)
        two_wt = 2 * wt
        return lambda mu: two_wt * (successes(mu) + failures(1 - mu))

    def minus_two_loglik_given(self, y, wt, n):
        """R's ``binomial()$aic``: ``-2 sum log dbinom(round(m y), round(m), mu)``, m trials."""
        m = n if np.any(n > 1) else wt
        k, m_int = np.round(m * y), np.round(m)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(m > 0, wt / m, 0.0)
            log_choose = gammaln(m_int + 1) - gammaln(k + 1) - gammaln(m_int - k + 1)
        failures = m_int - k
        some, fail = k > 0, failures > 0

        def minus_two_loglik(mu):
            with np.errstate(divide="ignore", invalid="ignore"):
                logp = (log_choose + np.where(some, k * np.log(mu), 0.0)
                        + np.where(fail, failures * np.log1p(-mu), 0.0))
            return -2 * np.sum(scale * logp)
        return minus_two_loglik

    def mustart(self, y, wt):
        return (wt * y + 0.5) / (wt + 1)

    def simulate(self, mu, wt, rng):
        """Draws on the scale of y: proportions of ``wt`` trials (0/1 when wt = 1)."""
        trials = np.maximum(np.round(wt).astype(int), 0)[:, None]  # mu: (n, nsim)
        draws = rng.binomial(trials, mu)
        return np.where(trials > 0, draws / np.maximum(trials, 1), 0.0)


class Poisson(Family):
    """Counts."""

    name, links = "poisson", ("log", "sqrt", "identity")

    def variance(self, mu):
        return mu

    def dev_resid_given(self, y, wt):
        """``2 wt (y log(y / mu) - (y - mu))``, with ``y log(y / mu) = 0`` for y = 0."""
        ylogy, two_wt = _ylogy_given(y), 2 * wt
        return lambda mu: two_wt * (ylogy(mu) - (y - mu))

    def minus_two_loglik_given(self, y, wt, n):
        """R's ``poisson()$aic``: ``-2 sum wt log dpois(y, mu)``."""
        log_factorial = gammaln(y + 1)
        return lambda mu: -2 * np.sum(wt * (y * np.log(mu) - mu - log_factorial))

    def mustart(self, y, wt):
        return y + 0.1

    def simulate(self, mu, wt, rng):
        return rng.poisson(mu).astype(float)  # mu: (n, nsim)


class NegativeBinomial(Poisson):
    """Overdispersed counts with a known shape ``theta`` (MASS's ``negative.binomial(theta)``).

    ``Var(y | u) = mu + mu^2 / theta``: the Poisson variance plus extra variation that grows
    with the mean; theta -> infinity gives the Poisson.  :func:`mixedlite.core.negbin.glmer_nb`
    estimates theta.
    """

    name = "negative binomial"

    def __init__(self, theta, link=None):
        if not np.isfinite(theta) or theta <= 0:
            raise ValueError(f"the negative binomial theta must be a positive number, got {theta!r}")
        super().__init__(link)
        self.theta = float(theta)

    def variance(self, mu):
        return mu + mu**2 / self.theta

    def dev_resid_given(self, y, wt):
        """``2 wt (y log(y / mu) - (y + theta) log((y + theta) / (mu + theta)))`` (MASS), the second
        logarithm as ``log1p`` so that a large theta (nearly Poisson counts) loses no digits."""
        th = self.theta
        y_or_one, y_theta = np.maximum(1, y), y + th
        return lambda mu: 2 * wt * (y * np.log(y_or_one / mu) - y_theta * np.log1p((y - mu) / (mu + th)))

    def minus_two_loglik_given(self, y, wt, n):
        """MASS's ``negative.binomial(theta)$aic``: ``-2 sum wt log dnbinom(y, size = theta, mu = mu)``.

        Written as ``(y + theta) log(1 + mu / theta) - y log mu + log y! - A`` with
        ``A = log Gamma(theta + y) - log Gamma(theta) - y log theta = sum_{k < y} log(1 + k / theta)``,
        the same number as MASS's formula without its cancellations when theta is large.
        """
        th = self.theta
        counts = np.round(y).astype(int)
        A = np.r_[0.0, np.cumsum(np.log1p(np.arange(counts.max(initial=0)) / th))][counts]
        y_theta, log_factorial = y + th, gammaln(y + 1)
        return lambda mu: 2 * np.sum((y_theta * np.log1p(mu / th) - y * np.log(mu) + log_factorial - A) * wt)

    def mustart(self, y, wt):
        return y + (y == 0) / 6

    def simulate(self, mu, wt, rng):
        """Gamma-Poisson draws: ``y ~ Poisson(mu g)``, ``g ~ Gamma(theta, 1 / theta)``."""
        return rng.negative_binomial(self.theta, self.theta / (self.theta + mu)).astype(float)

    def __repr__(self):
        return f"Negative Binomial({self.theta:.4g})({self.link})"


FAMILIES = {"binomial": Binomial, "poisson": Poisson}


def get_family(family, link=None):
    """A :class:`Family` from its name (``"binomial"``, ``"poisson"``) and link name, or an instance."""
    if isinstance(family, Family):
        if link is not None and link != family.link:
            raise ValueError(f"link={link!r} conflicts with the family {family!r}; give the link once")
        return family
    name = str(family).lower().replace("()", "")
    if name not in FAMILIES:
        raise ValueError(f"family {family!r} is not available: use family='binomial' (0/1 or successes out of "
                         "trials; links logit, probit, cloglog) or family='poisson' (counts; links log, sqrt, "
                         "identity); for overdispersed counts, glmer_nb")
    return FAMILIES[name](link)
