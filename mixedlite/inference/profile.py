"""Profile-likelihood confidence intervals, as lme4's ``confint(m, method = "profile")``.

lme4 profiles the *ML* deviance (REML fits are refitted by ML first: ``devfun2`` calls
``refitML``) on the standard-deviation / correlation scale.  The parameters are, per random
term, the standard deviations and correlations (in the order of theta), then sigma, then the
fixed effects.  For a parameter psi with ML estimate psi-hat, the signed square root

    zeta(psi) = sign(psi - psi-hat) sqrt(D(psi) - D(psi-hat))

of the deviance D, minimised over all the other parameters with psi held fixed, is close to
a standard normal variable; the 95% interval is where ``|zeta| <= 1.96``.  For the variance
parameters the deviance at fixed (sd, cor, sigma) is

    D = log|L|^2 + r^2 / sigma^2 + n log(2 pi sigma^2),   theta = sd / sigma (with chol(cor));

for a fixed effect beta_j the model is refitted by ML with ``x_j beta_j`` as an offset.
lme4 interpolates zeta by a spline through the profile and inverts it; we find the two roots
of ``zeta(psi) = -+1.96`` directly (Brent's method).  An interval that reaches a bound
(a standard deviation of 0, a correlation of +-1) ends at the bound, as in lme4.

GLMMs (lme4's ``profile.glmerMod``): there is no sigma, and the deviance is the glmer fit's
own stage-2 deviance (Laplace or AGQ) at ``(theta, beta)``, with ``theta`` from the standard
deviations and correlations.  Every parameter -- variance parameters and fixed effects alike --
is profiled the same way: held fixed while the deviance is minimised over all the others.
"""
import copy
import warnings

import numpy as np
from scipy import optimize, stats

from ..core.diagnostics import ConvergenceWarning
from ..core.optimize import minimize
from ..core.pls import ProfiledLeastSquares

LOWER_DEVIANCE_TOL = 1e-4   # a profile deviance this far below the fit's is a fit that stopped short


# ------------------------------------------------------------ the sd / cor scale

def sdcor_names(model):
    """lme4's ``oldNames = FALSE`` names: sd_(Intercept)|Subject, cor_Days.(Intercept)|Subject, ..., sigma."""
    names = [name for term in model.design.terms for name in term.sdcor_names]
    return names + ["sigma"] if model.has_residual_variance else names


def theta_to_sdcor(design, theta, sigma):
    """(theta, sigma) -> standard deviations and correlations per term (theta's order), then sigma."""
    thetas = design.split_theta(np.asarray(theta, dtype=float))
    return np.concatenate([term.sdcor(th, sigma) for term, th in zip(design.terms, thetas)] + [[sigma]])


def sdcor_to_theta(design, pars):
    """The inverse of :func:`theta_to_sdcor`, term by term (:meth:`~mixedlite.core.terms.RandomEffectsTerm.theta_from_sdcor`)."""
    pars = np.asarray(pars, dtype=float)
    return np.concatenate([term.theta_from_sdcor(values, pars[-1])
                           for term, values in zip(design.terms, design.split_theta(pars[:-1]))])


def _bounds(design):
    """Bounds of (sd, cor per term, sigma)."""
    lower, upper = zip(*(term.sdcor_bounds for term in design.terms))
    return np.concatenate(lower + ([0.0],)), np.concatenate(upper + ([np.inf],))


# ------------------------------------------------------------ profiles

class Profile:
    """zeta functions for every parameter of an ML fit (lme4's ``profile``), and their roots."""

    def __init__(self, model):
        ml_fit = model.refit_ml() if model.REML else model
        self.model = ml_fit
        self.pls = ml_fit.pls
        self.design = ml_fit.design
        self.base = -2 * ml_fit.loglik()
        self.opt = theta_to_sdcor(self.design, ml_fit._theta, ml_fit.sigma)
        self.lower, self.upper = _bounds(self.design)
        self.names = sdcor_names(ml_fit) + list(self.design.fixed_names)
        self.beta = np.asarray(ml_fit.beta)
        self.se = np.sqrt(np.diag(ml_fit._vcov))

    def deviance(self, pars):
        """ML deviance at (sd, cor, sigma): lme4's ``devfun2``."""
        sigma = pars[-1]
        if sigma <= 0:
            return np.inf
        try:
            return self.pls.deviance(sdcor_to_theta(self.design, pars), sigma, REML=False)
        except np.linalg.LinAlgError:
            return np.inf

    def variance_zeta(self, w):
        """zeta as a function of variance parameter w (the others minimised, warm-started)."""
        return profiled_zeta(self.deviance, self.opt, self.lower, self.upper, w, self.base)

    def fixed_zeta(self, j):
        """zeta as a function of fixed effect j: ML refit with ``x_j beta_j`` as an offset."""
        design = copy.copy(self.design)
        design.X = self.design.X.drop(columns=self.design.X.columns[j])
        reduced = ProfiledLeastSquares(design, self.pls.y)
        xj = self.design.X.iloc[:, j].to_numpy(dtype=float)
        state = {"start": self.model._theta.copy()}
        lower = self.design.theta_lower

        def zeta(x):
            pls = reduced.with_response(self.pls.y - xj * x)
            step = 0.1 * np.maximum(np.abs(state["start"]), 0.05)
            result = minimize(lambda th: pls.objective(th, REML=False), state["start"], lower,
                              xtol_abs=1e-10, ftol_abs=1e-12, initial_step=step)
            state["start"] = result.x
            return np.sign(x - self.beta[j]) * np.sqrt(max(result.fun - self.base, 0.0))
        return zeta

    def interval(self, k, level=0.95):
        """The profile interval of parameter k (index into ``names``)."""
        cutoff = stats.norm.ppf(0.5 + level / 2)
        nv = len(self.opt)
        if k < nv:
            zeta, estimate, lower, upper = self.variance_zeta(k), self.opt[k], self.lower[k], self.upper[k]
            scale = max(abs(estimate), 0.05 * self.opt[-1])
        else:
            j = k - nv
            zeta, estimate, lower, upper = self.fixed_zeta(j), self.beta[j], -np.inf, np.inf
            scale = self.se[j]
        return (_root(zeta, estimate, -1, lower, cutoff, scale), _root(zeta, estimate, +1, upper, cutoff, scale))


def profiled_zeta(deviance, opt, lower, upper, w, base):
    """zeta(x) for parameter w of ``deviance(pars)``: the deviance minimised over the other
    parameters with ``pars[w] = x`` (BOBYQA, each search started where the last one ended).

    A deviance below the fit's means the fit stopped short of its optimum (lme4 stops with
    "profiling detected new, lower deviance"): warned once, as the intervals are then unreliable.
    """
    others = np.arange(len(opt)) != w
    state = {"start": opt[others].copy(), "warned": False}

    def zeta(x):
        def f(y):
            pars = opt.copy()
            pars[w], pars[others] = x, y
            return deviance(pars)
        start = np.clip(state["start"], lower[others], upper[others])
        if others.any():
            step = 0.1 * np.maximum(np.abs(start), 0.05)
            result = minimize(f, start, lower[others], upper[others], xtol_abs=1e-10, ftol_abs=1e-12,
                              initial_step=step)
            state["start"], value = result.x, result.fun
        else:
            value = f(np.zeros(0))
        if value < base - LOWER_DEVIANCE_TOL and not state["warned"]:
            state["warned"] = True
            warnings.warn(f"profiling found a deviance {base - value:.3g} below the fit's ({base:.8g}): the fit "
                          "stopped short of its optimum, so these intervals are unreliable. Refit (another "
                          "optimizer, or a larger maxeval) and profile again", ConvergenceWarning, stacklevel=2)
        return np.sign(x - opt[w]) * np.sqrt(max(value - base, 0.0))
    return zeta


class GlmmProfile:
    """zeta functions of a glmer fit (lme4's ``profile`` of a ``glmerMod``), and their roots.

    Parameters: the standard deviations and correlations of the random effects (no sigma),
    then the fixed effects.  The deviance at ``pars`` is the fit's stage-2 deviance
    (``deviance_function``) at ``theta = sdcor_to_theta(sd, cor)`` and ``beta``.
    """

    def __init__(self, model):
        if model.nAGQ == 0:
            raise ValueError("profile intervals need the deviance of (theta, beta): refit with nAGQ=1 "
                             "(the Laplace approximation) or nAGQ > 1; nAGQ=0 estimates beta inside PIRLS")
        self.model, self.design = model, model.design
        self.base = model.objective
        self.n_variance = len(sdcor_names(model))
        self.opt = np.r_[theta_to_sdcor(self.design, model._theta, 1.0)[:-1], model.beta]
        lower, upper = _bounds(self.design)
        p = len(model.beta)
        self.lower = np.r_[lower[:-1], np.full(p, -np.inf)]
        self.upper = np.r_[upper[:-1], np.full(p, np.inf)]
        self.names = sdcor_names(model) + list(self.design.fixed_names)
        self.se = np.sqrt(np.diag(model._vcov))

    def deviance(self, pars):
        """The Laplace (or AGQ) deviance at (sd, cor, beta): lme4's ``devfun2`` for a GLMM."""
        k = self.n_variance
        theta = sdcor_to_theta(self.design, np.r_[pars[:k], 1.0])
        return self.model.deviance_function(np.r_[theta, pars[k:]])

    def interval(self, k, level=0.95):
        """The profile interval of parameter k (index into ``names``)."""
        cutoff = stats.norm.ppf(0.5 + level / 2)
        zeta = profiled_zeta(self.deviance, self.opt, self.lower, self.upper, k, self.base)
        estimate = self.opt[k]
        zeta(estimate)  # 0 at an optimum; warns if the other parameters still lower the deviance
        scale = max(abs(estimate), 0.05) if k < self.n_variance else self.se[k - self.n_variance]
        return (_root(zeta, estimate, -1, self.lower[k], cutoff, scale),
                _root(zeta, estimate, +1, self.upper[k], cutoff, scale))


def _root(zeta, estimate, direction, bound, cutoff, scale):
    """Where ``zeta = direction * cutoff``, searching outward from the estimate; the bound if never."""
    inner, step = estimate, 0.25 * scale
    for _ in range(60):
        outer = estimate + direction * step
        if (direction < 0 and outer <= bound) or (direction > 0 and outer >= bound):
            outer = bound
        z = abs(zeta(outer))
        if z >= cutoff:
            return optimize.brentq(lambda x: abs(zeta(x)) - cutoff, min(inner, outer), max(inner, outer),
                                   xtol=1e-10 * max(abs(estimate), scale), rtol=1e-12)
        if outer == bound:
            return bound
        inner, step = outer, step * 1.6
    raise RuntimeError("the profile never reached the cutoff: the likelihood is too flat to bound this parameter")


def profile_confint(model, parm=None, level=0.95):
    """Profile intervals for the parameters named in ``parm`` (default: all), in lme4's order."""
    prof = Profile(model) if model.is_linear else GlmmProfile(model)
    chosen = range(len(prof.names)) if parm is None else [prof.names.index(p) for p in parm]
    return [prof.names[k] for k in chosen], np.array([prof.interval(k, level) for k in chosen])
