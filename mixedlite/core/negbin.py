"""Negative-binomial GLMMs: lme4's ``glmer.nb``.

Counts are often more variable than the Poisson allows (``Var = mu``).  The negative binomial
adds a shape parameter theta::

    y | u ~ NB(mu, theta),   Var(y | u) = mu + mu^2 / theta,   log(mu) = X beta + Z Lambda u

For a fixed theta this is an ordinary GLMM (:class:`mixedlite.core.families.NegativeBinomial`).
theta is estimated as lme4's ``glmer.nb`` does, alternating between theta and the GLMM fit:

1. fit the Poisson GLMM, and take MASS's ``theta.ml`` on its fitted means as a first theta;
2. minimise the profile deviance ``d(t) = -2 log L(theta = exp(t))`` over ``t = log theta``
   in ``log(theta_start) +- 3`` by Brent's method (R's ``optimize``; lme4's ``optTheta``),
   each evaluation a GLMM fit at that theta, started from the previous fit.

The result is the GLMM at the best theta; its ``nb_theta`` is theta.  As lme4, the
log-likelihood counts theta as a parameter (``df`` is one more than the GLMM's), while the
standard errors of beta are those of the GLMM with theta fixed.

One deliberate difference: PIRLS runs to convergence here (``tolPwrss=1e-12``, the exact
Laplace approximation).  lme4 stops PIRLS at a relative change of 1e-7, and in ``glmer.nb``
each refit starts PIRLS from the previous refit's state, so its deviance depends on the path
of the theta search: on grouseticks lme4 reports 1777.68140 where the exact Laplace optimum
is 1777.68103 (lme4 itself, refitted with ``tolPwrss = 1e-12``, agrees with us to 1e-8).
The two optima differ by 2e-7 in deviance and 1e-5 in theta (relative); pass
``tolPwrss=1e-7`` for lme4's PIRLS rule.
"""
import warnings

import numpy as np
from scipy import optimize
from scipy.special import digamma, polygamma

from .diagnostics import ConvergenceWarning
from .families import NegativeBinomial, get_family
from .glmm import GeneralizedLinearMixedModel, glmer

THETA_TOL = 1e-6          # tolerance on log(theta) of the profile search (lme4's optimize uses 5e-5)
LOG_THETA_RANGE = 3.0     # lme4's interval: log(theta_start) +- 3
EXACT_PIRLS_TOL = 1e-12   # PIRLS to convergence (lme4's tolPwrss is 1e-7; see above)


class NegativeBinomialMixedModel(GeneralizedLinearMixedModel):
    """A negative-binomial GLMM (lme4's ``glmer.nb`` fit).  Create it with :func:`glmer_nb`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.family = f"Negative Binomial({round(self.nb_theta, 4):g})"  # R: format(round(theta, 4))

    @property
    def nb_theta(self):
        """The estimated shape theta: ``Var(y | u) = mu + mu^2 / theta`` (lme4's ``getME(m, "glmer.nb.theta")``)."""
        return self._family.theta

    @property
    def df(self):
        """Parameters of the log-likelihood: beta, theta of the random effects, and the shape theta."""
        return super().df + 1


def theta_ml(y, mu, weights, limit=20, eps=1e-4):
    """MASS's ``theta.ml``: Newton's method for the negative-binomial theta given the means mu.

    The score of theta is ``sum w (psi(theta + y) - psi(theta) + log theta + 1 - log(theta + mu)
    - (y + theta) / (mu + theta))``; the start is ``n / sum w (y / mu - 1)^2``.
    """
    y, mu, w = (np.asarray(a, dtype=float) for a in (y, mu, weights))
    theta = w.sum() / np.sum(w * (y / mu - 1) ** 2)
    for _ in range(limit):
        theta = abs(theta)
        score = np.sum(w * (digamma(theta + y) - digamma(theta) + np.log(theta) + 1 - np.log(theta + mu)
                            - (y + theta) / (mu + theta)))
        info = np.sum(w * (-polygamma(1, theta + y) + polygamma(1, theta) - 1 / theta + 2 / (mu + theta)
                           - (y + theta) / (mu + theta) ** 2))
        step = score / info
        theta += step
        if abs(step) <= eps:
            break
    return max(theta, np.finfo(float).eps)


def glmer_nb(formula, data, link="log", nAGQ=1, weights=None, offset=None, optimizer=("bobyqa", "bobyqa"),
             maxeval=100_000, tolPwrss=EXACT_PIRLS_TOL, theta_tol=THETA_TOL):
    """Fit a negative-binomial GLMM and estimate its shape theta, as lme4's ``glmer.nb``.

    >>> m = glmer_nb("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", grouseticks)   # doctest: +SKIP
    >>> m.nb_theta                                                                           # doctest: +SKIP

    Arguments as :func:`mixedlite.glmer` (``link``: ``"log"``, ``"sqrt"`` or ``"identity"``).
    ``theta_tol``: tolerance on ``log(theta)`` of the search; ``tolPwrss``: PIRLS tolerance
    (see the module docstring).
    """
    get_family("poisson", link)  # a clear error for a link the family does not have
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Poisson fit is a starting point; its warnings are not the model's
        poisson = glmer(formula, data, family="poisson", link=link, nAGQ=nAGQ, weights=weights, offset=offset,
                        optimizer=optimizer, maxeval=maxeval, check_convergence=False, tolPwrss=tolPwrss)
    start_theta = theta_ml(poisson.resp.y, poisson.fitted(), poisson.resp.wt)
    last = poisson

    def fit(theta, check_convergence):
        start = np.r_[last._theta, last.beta] if nAGQ > 0 else last._theta
        model = NegativeBinomialMixedModel(poisson.design, poisson.resp, NegativeBinomial(theta, link), nAGQ=nAGQ,
                                           tolPwrss=tolPwrss)
        return model.fit(optimizer, maxeval, start=start, check_convergence=check_convergence)

    def profile_deviance(log_theta):
        nonlocal last
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            last = fit(np.exp(log_theta), check_convergence=False)
        return last.objective

    centre = np.log(start_theta)
    best = optimize.minimize_scalar(profile_deviance, bounds=(centre - LOG_THETA_RANGE, centre + LOG_THETA_RANGE),
                                    method="bounded", options={"xatol": theta_tol})
    model = fit(np.exp(best.x), check_convergence=True)
    if abs(abs(best.x - centre) - LOG_THETA_RANGE) < 1e-3:
        warnings.warn(f"the negative-binomial theta ({model.nb_theta:.4g}) is at the edge of its search interval "
                      f"(theta.ml's start {start_theta:.4g} times exp(+-{LOG_THETA_RANGE:g})): with a large theta the "
                      "counts are not overdispersed (fit the Poisson GLMM); with a small one check the model",
                      ConvergenceWarning, stacklevel=2)
    model.theta_search = best
    return model
