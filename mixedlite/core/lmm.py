"""Linear mixed models: penalized least squares and the profiled (REML) deviance.

The model (Bates, Maechler, Bolker and Walker 2015, lme4's ``lmer``)::

    y = X beta + Z b + e,   b = Lambda(theta) u,   u ~ N(0, sigma^2 I),   e ~ N(0, sigma^2 I)

For a given theta, beta and u minimise the penalized residual sum of squares
``r^2 = |y - X beta - Z Lambda u|^2 + |u|^2``.  With the Cholesky factor L of
``Lambda' Z' Z Lambda + I`` and R_X of the fixed-effects part, the profiled criteria are

    ML deviance:    log|L|^2 + n (1 + log(2 pi r^2 / n))
    REML criterion: log|L|^2 + log|R_X|^2 + (n - p) (1 + log(2 pi r^2 / (n - p)))

and theta is chosen by bounded derivative-free optimisation of the criterion.

Prior weights (lme4's ``lmer(weights = w)``): observation i has residual variance
``sigma^2 / w_i``.  Every cross-product is then weighted (rows of X, Z and y times
``sqrt(w_i)``), and both criteria subtract ``log|W| = sum log w_i``.

The penalized least squares at each theta (a blocked Cholesky factorisation, as
MixedModels.jl's) is :class:`mixedlite.core.pls.ProfiledLeastSquares`.
"""
import dataclasses

import numpy as np
import pandas as pd

from .design import WEIGHTS_COLUMN, Design, column_or_array
from .diagnostics import (GRADIENT_MESSAGE, MAX_NOBS_FOR_DERIVATIVES, SCALED_GRADIENT_MESSAGE, SINGULAR_MESSAGE,
                          check_gradient, check_predictor_scales, convergence_messages, is_singular,
                          optimizer_message, report)
from .fitting import Criterion, Policies, fit_theta
from .formula import is_factor
from .model import MixedModel
from .pls import ProfiledLeastSquares

CRITERION_ROUNDING = 1e-13  # relative rounding of the criterion (measured at optima: 2e-16 to 1.4e-14)
FTOL_ABS = 1e-8  # lme4's ftol_abs: a run stops when a step gains less than this or fitting.FTOL_REL relative
NEAR_START_STEP = 0.2  # first steps, relative to theta, from a start near the optimum (a refit, a moment estimate)


class LinearMixedModel(MixedModel):
    """A linear mixed model: lme4's ``lmerMod``.  Create a fitted one with :func:`lmer`;
    ``LinearMixedModel(design, REML)`` builds the model (cheap) and :meth:`fit` fits it."""

    family = "gaussian"
    is_linear = True               # capabilities (mixedlite.core.model): a closed-form criterion, model.pls,
    has_residual_variance = True   # and a residual variance sigma^2

    def __init__(self, design, REML=True, pls=None):
        """The model of ``design``, not yet fitted (:meth:`fit`): its cross-products ``pls``."""
        self.design, self.REML = design, bool(REML) and design.X.shape[1] > 0  # p = 0: REML is ML, as lme4
        self.pls = pls if pls is not None else ProfiledLeastSquares(design, _numeric_response(design))
        self._Z = self.pls.Z

    def fit(self, optimizer="bobyqa", maxeval=100_000, start=None, check_convergence=True, step_fraction=None):
        """Minimise the criterion over theta (:func:`mixedlite.core.fitting.fit_theta`); returns the model.

        Policies (see :mod:`mixedlite.core.fitting`): lme4's edge restart after every run, fresh runs while
        the gradient check fails or after a breakdown, and the Newton polish where the checks take
        derivatives.  ``step_fraction``: first steps of this fraction of each (standard) theta element,
        at least a tenth of it; by default NLopt's, or ``NEAR_START_STEP`` from lme4's moment start
        (:meth:`_moment_start`).

        The optimiser works on the standard theta of every term (:meth:`RandomEffectsTerm.standard_theta`):
        lme4's theta itself, unless the term's model rows are badly scaled.  On lme4's theta a random
        slope on a predictor in the thousands has elements a thousand times smaller than the intercept's,
        nearly collinear with it, and BOBYQA's spherical steps crawl or stop short.  The criterion is the
        same function of ``T T'`` either way.
        """
        lower = self.design.theta_lower
        if start is None:
            start = self._moment_start()
            step_fraction = NEAR_START_STEP if start is not None and step_fraction is None else step_fraction
        start = self._theta_from_standard(self.design.theta_start) if start is None else np.asarray(start, dtype=float)
        derivatives = check_convergence and self.nobs <= MAX_NOBS_FOR_DERIVATIVES
        criterion = Criterion(self.criterion, lower, optimizer, maxeval,
                              to_search=self._standard_theta, from_search=self._theta_from_standard, ftol_abs=FTOL_ABS)
        policies = Policies(restart_edge=True, derivatives=derivatives, restart_after_breakdown=True,
                            gradient_fails=lambda theta, g, H: check_gradient(g, H) is not None,
                            restart_fails=lambda theta, g, H: _restart_on_gradient(theta, g, H, lower),
                            rounding=CRITERION_ROUNDING)
        fit = fit_theta(criterion, start, policies, step_fraction)
        runs = fit.runs
        self.optinfo = dataclasses.replace(runs[-1], evaluations=sum(run.evaluations for run in runs))
        self._breakdown = runs[0] if runs[0].failed else None
        self._set_theta(fit.x, fit.fun)
        self.convergence = self._check(check_convergence, maxeval,
                                       (fit.gradient, fit.hessian) if derivatives else None)
        report(self.convergence)
        return self

    def _moment_start(self):
        """lme4's start (``mkLmerDevfun``) where every term is a random intercept on a factor of its own: the
        moment estimate :func:`intercepts_start`; None otherwise (the start is then T = identity)."""
        terms = self.design.terms
        if all(t.names == ["(Intercept)"] for t in terms) and len({t.group for t in terms}) == len(terms):
            return intercepts_start(self.pls.y + self.design.offset, [t.codes for t in terms])
        return None

    def _standard_theta(self, theta):
        thetas = self.design.split_theta(np.asarray(theta, dtype=float))
        return np.concatenate([t.standard_theta(th) for t, th in zip(self.design.terms, thetas)])

    def _theta_from_standard(self, standard):
        pieces = self.design.split_theta(np.asarray(standard, dtype=float))
        return np.concatenate([t.theta_from_standard(s) for t, s in zip(self.design.terms, pieces)])

    def _check(self, check_convergence, maxeval, derivatives):
        """The convergence messages of the fit (lme4's checks; see :mod:`diagnostics`); ``derivatives``:
        the (gradient, Hessian) at the optimum, where the checks take them."""
        messages = [m for m in [optimizer_message(self.optinfo, maxeval, self.design)] if m]
        if self._breakdown is not None and not self.optinfo.failed:
            messages.append(optimizer_message(self._breakdown, maxeval, self.design, recovered=True))
        if check_convergence:
            scale_message = check_predictor_scales(self.design.X)
            messages += [scale_message] if scale_message else []
            messages += convergence_messages(self.criterion, self._theta, self.design.theta_lower, self.nobs,
                                             derivatives)
        elif self.is_singular():
            messages.append(SINGULAR_MESSAGE)
        return messages

    def criterion(self, theta):
        """The profiled REML criterion (REML fits) or deviance (ML fits) at theta."""
        return self.pls.objective(theta, self.REML)

    def _set_theta(self, theta, objective):
        self._theta, self.objective = np.asarray(theta, dtype=float), objective
        solution = self.pls.solve_at(self._theta, self.REML)
        self.beta, self.b, self.u = solution.beta, solution.b, solution.u
        self.sigma, self._vcov, self.RX = solution.sigma, solution.vcov, solution.RX

    @property
    def _cond_var(self):
        """Conditional covariances of the random effects, computed when first asked for."""
        return self._at_theta("cond_var", lambda m: [m.sigma**2 * v for v in m.pls.conditional_variances_at(m._theta)])

    def loglik(self):
        """The log-likelihood (the REML log-likelihood for REML fits): ``-objective / 2``."""
        return -self.objective / 2

    def residuals(self, type="response", scaled=False):
        """Residuals ``y - fitted``; ``"pearson"`` and ``"deviance"``: ``sqrt(w) (y - fitted)``
        with prior weights w (all three agree without weights).

        ``scaled=True`` divides by sigma (the "scaled residuals" of the summary).
        """
        if type not in ("response", "pearson", "deviance"):
            raise ValueError(f"type must be 'response', 'pearson' or 'deviance', not {type!r}")
        r = self.pls.y - self._linear_predictor()
        if type != "response" and self.pls.weights is not None:
            r = np.sqrt(self.pls.weights) * r
        return pd.Series(r / self.sigma if scaled else r, index=self.design.data.index, name="residuals")

    def simulate(self, nsim=1, seed=None):
        """Simulate responses from the fitted model (new random effects and new noise).

        ``y* = X beta + Z Lambda u* + e*`` with ``u* ~ N(0, sigma^2 I)``, ``e*_i ~ N(0, sigma^2 / w_i)``; a DataFrame
        with one column per simulation (``sim_1``, ...), as lme4's ``simulate``.
        """
        rng = np.random.default_rng(seed)
        return pd.DataFrame(self._simulate_array(nsim, rng), index=self.design.data.index,
                            columns=[f"sim_{i + 1}" for i in range(nsim)])

    def _simulate_array(self, nsim, rng):
        fixed = self.design.X.to_numpy() @ self.beta + self.design.offset
        u = rng.standard_normal((self.pls.Z.shape[1], nsim)) * self.sigma
        b = self._lambda() @ u
        noise_sd = self.sigma if self.pls.weights is None else self.sigma / np.sqrt(self.pls.weights)[:, None]
        return fixed[:, None] + self._Z @ b + rng.standard_normal((self.nobs, nsim)) * noise_sd

    def refit(self, newresponse, check_convergence=False):
        """Fit the same model to a new response, reusing the model structure (lme4's ``refit``).

        Starts from this fit's theta, as lme4 does, with first steps of a fifth of theta: the
        new optimum is usually near, so the refit needs fewer evaluations (the parametric bootstrap).
        """
        y = np.asarray(newresponse, dtype=float)
        if y.shape != (self.nobs,):
            raise ValueError(f"newresponse must have one value per observation ({self.nobs}), got shape {y.shape}")
        model = LinearMixedModel(self.design, self.REML, pls=self.pls.with_response(y - self.design.offset))
        return model.fit(start=self._theta, check_convergence=check_convergence, step_fraction=NEAR_START_STEP)

    def refit_ml(self):
        """The same model fitted by maximum likelihood (for likelihood-ratio tests of fixed effects)."""
        if not self.REML:
            return self
        return LinearMixedModel(self.design, REML=False, pls=self.pls).fit(start=self._theta)

    def summary(self, ddf=None):
        """lme4's summary; ``ddf="Satterthwaite"`` or ``"Kenward-Roger"`` adds lmerTest's df and p-values."""
        from .display import format_summary, information_criteria_text
        if ddf is None:
            table = pd.DataFrame({"Estimate": self.beta, "Std. Error": np.sqrt(np.diag(self._vcov))},
                                 index=self.design.fixed_names)
            table["t value"] = table["Estimate"] / table["Std. Error"]
        else:
            table = self._inference("coefficient_tests")(self, ddf)
        method = "REML" if self.REML else "maximum likelihood "
        title = (f"Linear mixed model fit by {method}" + (f". t-tests use {ddf}'s method" if ddf else "")
                 + (" ['lmerModLmerTest']" if ddf else " ['lmerMod']"))
        fit = f"REML criterion at convergence: {self.objective:.1f}" if self.REML else information_criteria_text(self)
        return format_summary(self, [title, f"Formula: {self.formula}", "", fit], table,
                              self.residuals("pearson", scaled=True))


def _numeric_response(design):
    y = design.response()
    if is_factor(y) if isinstance(y, pd.Series) else np.asarray(y).dtype.kind not in "biuf":
        raise TypeError(f"the response '{design.formula.response}' is not numeric; lmer fits a continuous "
                        "response. For a binary or count response use glmer(..., family='binomial' or 'poisson')")
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ValueError("lmer needs a single numeric response; cbind(...) responses are for glmer")
    return y - design.offset  # the model is y = offset + X beta + Z b + e


def intercepts_start(y, codes):
    """lme4's start for random intercepts on distinct factors: ``theta_k = sqrt(v_k / v_e)``, with ``v_k``
    the variance of y's group means over factor k (one mean per observation, R's ``var(ave(y, f))``) and
    ``v_e = var(y) - sum_k v_k``; None where ``v_e`` is not positive (lme4 then starts at theta = 1).

    A moment estimate of tau_k / sigma (each factor's means taken alone), on the raw response, without
    weights or offset, as lme4's.  InstEval's REML fit: 62 evaluations from it (first steps a fifth of
    theta), 113 from theta = 1; lme4's default stops 5e-8 above ours (its tight optimum 2e-8 above).
    """
    y = np.asarray(y, dtype=float)
    v = np.array([np.var((np.bincount(c, y) / np.bincount(c))[c], ddof=1) for c in codes])
    v_e = np.var(y, ddof=1) - v.sum()
    return np.sqrt(v / v_e) if v_e > 0 else None


def _restart_on_gradient(theta, gradient, hessian, lower):
    """lmer restarts where its checks report a failed gradient check: lme4's gradient message, or a Hessian
    too far from positive definite to scale the gradient; not on a singular fit (the checks skip it)."""
    if is_singular(theta, lower):
        return False
    message = check_gradient(gradient, hessian)
    return message is not None and message.startswith((GRADIENT_MESSAGE, SCALED_GRADIENT_MESSAGE))


def _check_weights(w):
    w = pd.to_numeric(w, errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        bad = w[~(np.isfinite(w) & (w > 0))][0]
        raise ValueError(f"weights must be positive, finite numbers (found {bad:g}): observation i has residual "
                         "variance sigma^2 / w_i. Drop the rows whose weight is zero, and check for negative "
                         "or infinite values")


def _check_identifiable(design):
    """lme4's checks that the random effects can be told apart from the residual."""
    for term in design.terms:
        if term.n_levels >= design.n:
            raise ValueError(f"number of levels of each grouping factor must be < number of observations "
                             f"(problems: {term.group} has {term.n_levels} levels for {design.n} observations). "
                             "A grouping factor with one observation per level is confounded with the residual; "
                             "remove the term or group by a coarser factor")
        if term.q >= design.n:
            raise ValueError(f"number of observations (={design.n}) <= number of random effects (={term.q}) for "
                             f"term ({' + '.join(term.names)} | {term.group}); the random-effects parameters and "
                             "the residual variance are probably unidentifiable. Simplify the random term")


def lmer(formula, data, REML=True, optimizer="bobyqa", maxeval=100_000, start=None, contrasts=None, offset=None,
         weights=None):
    """Fit a linear mixed model, as lme4's ``lmer``.

    >>> m = lmer("Reaction ~ Days + (Days | Subject)", load_dataset("sleepstudy"))   # doctest: +SKIP

    ``REML=True`` maximises the restricted likelihood (unbiased variance components);
    ``REML=False`` the likelihood (needed to compare fixed effects by likelihood-ratio tests).
    ``optimizer`` and ``maxeval`` are the remedies lme4's ``lmerControl`` offers.
    ``contrasts``: factor codings, lme4's ``contrasts=`` (e.g. ``{"recipe": "sum"}``); ``offset``: a
    column name or one value per row, added to any ``offset(...)`` terms of the formula.
    ``weights``: prior weights, a column name or one positive number per row: observation i
    has residual variance ``sigma^2 / w_i`` (e.g. w_i = the number of measurements that a
    mean y_i averages).
    """
    extra = []
    if weights is not None:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        data = data.assign(**{WEIGHTS_COLUMN: column_or_array(weights, data, "weights")})
        extra = [WEIGHTS_COLUMN]
    design = Design(formula, data, extra_columns=extra, contrasts=contrasts, offset=offset)
    if weights is not None:
        _check_weights(design.data[WEIGHTS_COLUMN])
    _check_identifiable(design)
    return LinearMixedModel(design, REML=REML).fit(optimizer=optimizer, maxeval=maxeval, start=start)
