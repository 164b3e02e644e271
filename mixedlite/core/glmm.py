"""Generalized linear mixed models: lme4's ``glmer``, its responses and the fitted model.

The model (lme4's ``glmer``; Bates, Maechler, Bolker and Walker 2015, section 6 of the lme4 book)::

    g(E[y | u]) = eta = offset + X beta + Z Lambda(theta) u,     u ~ N(0, I)

with y | u binomial or Poisson (:mod:`mixedlite.core.families`).  The likelihood integrates u out:
there is no closed form, so it is approximated.

The deviance is computed by :mod:`mixedlite.core.pirls` (PIRLS, Laplace, adaptive quadrature).

Fitting follows lme4's two stages: stage 1 (``nAGQ=0``) optimises theta only, with beta
found inside PIRLS; stage 2 (``nAGQ >= 1``) optimises theta and beta together, starting
from stage 1.  The Hessian of the stage-2 deviance (finite differences, as lme4's
``deriv12``) gives the convergence checks and, as lme4 does by default for GLMMs, the
covariance matrix of beta: the beta block of ``2 H^-1``.

Matching lme4's numbers, not just its model.  lme4 stops PIRLS when the penalized deviance
changes by less than ``tolPwrss = 1e-7`` (relative), and evaluates ``log|L|^2`` with the
weights of the last-but-one iterate, starting each evaluation from the same linear
predictor.  That is a slightly different function of (theta, beta) from the exact Laplace
approximation: on cbpp it is 5.6e-4 higher in deviance and its curvature gives standard
errors 0.5% smaller.  We follow lme4 (``tolPwrss=1e-7``) so that fits agree to 1e-5;
``glmer(..., tolPwrss=1e-12)`` gives the exact Laplace approximation.  lme4's default
stage-2 optimiser is its own Nelder-Mead; we use BOBYQA for both stages (the same optimum to
within 1e-5 here, in a quarter of the evaluations); ``optimizer=("bobyqa", "Nelder_Mead")``
is lme4's choice.  BOBYQA can stop short on the rough Laplace deviance, so a failed gradient
check brings Nelder-Mead restarts, and Newton steps polish the optimum; a singular optimum whose
mirror image falls into the interior, or a saddle, brings one more restart.  Stage 1 gets the mirror
restart too: every stage-2 PIRLS starts from stage 1's linear predictor, so where stage 1 ends shapes
the stage-2 deviance.  The driver and its policies are :mod:`mixedlite.core.fitting`'s, shared with lmer.
"""
import warnings

import numpy as np
import pandas as pd
import scipy.linalg as la
from scipy import stats

from .design import WEIGHTS_COLUMN, Design, column_or_array, prior_weights
from .diagnostics import (MAX_NOBS_FOR_DERIVATIVES, SINGULAR_MESSAGE, check_gradient, check_hessian,
                          check_predictor_scales, deriv12, optimizer_message, report)
from .families import get_family
from .formula import is_factor
from .model import MixedModel
from .fitting import RESTART_OPTIMIZER, RESTART_STEP, SAME_OPTIMUM, Criterion, Policies, fit_theta
from .optimize import free_coordinates, single_threaded_blas
from .pirls import PIRLS, PIRLS_TOL, PIRLSError, gauss_hermite
from .pls import unscaled_vcov

# The Newton polish's move (largest coordinate) up to which the Hessian of the convergence checks, taken before
# it, is kept for the SEs.  Over the 174 glmer fits of tests/differential where the polish moved x, the SEs of
# the Hessians before and after differed by at most 2.9e-6 relative where the move was at most 2e-6 (35
# fits: a floor of finite-difference noise, 2.8e-8 .. 2e-6 already for moves of 6e-9 .. 6e-7) and by
# up to 4.3 x the move beyond it (6.3e-5 for poisson_005_1's 1.5e-5): the tests compare SEs at 1e-4.
HESSIAN_REUSE_MOVE = 2e-6


class Response:
    """The response of a GLMM as R's ``glm`` holds it: y, prior weights wt, trials n, offset."""

    def __init__(self, y, wt, n, offset, kind):
        self.y, self.wt, self.n, self.offset, self.kind = y, wt, n, offset, kind


def binomial_response(raw, weights, name):
    """y (proportion of successes), wt and n from any of lme4's binomial response forms."""
    if isinstance(raw, pd.Series) and is_factor(raw) and raw.dtype != bool:
        factor = raw.astype("category") if not isinstance(raw.dtype, pd.CategoricalDtype) else raw
        levels = list(factor.cat.remove_unused_categories().cat.categories)
        if len(levels) != 2:
            raise ValueError(f"the binomial response '{name}' is a factor with {len(levels)} levels "
                             f"({', '.join(map(str, levels[:5]))}); a binomial response needs exactly two "
                             "(the first level is 'failure'). Recode it to two levels or 0/1")
        y = (factor.astype(str).to_numpy() == str(levels[1])).astype(float)
        return _with_prior_weights(y, np.ones_like(y), weights, name, "binary")
    values = np.asarray(raw)
    if values.dtype == bool:
        values = values.astype(float)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"the binomial response '{name}' is not numeric, logical or a factor")
    values = values.astype(float)
    if values.ndim == 2:
        if values.shape[1] != 2:
            raise ValueError(f"a binomial response given by cbind needs two columns (successes, failures), "
                             f"got {values.shape[1]}")
        if np.any(values < 0) or np.any(values != np.round(values)):
            raise ValueError(f"the binomial response '{name}' must hold non-negative whole numbers of "
                             "successes and failures; check the columns of cbind(successes, failures) "
                             "(the second is the number of failures, e.g. size - incidence)")
        trials = values.sum(axis=1)
        y = np.where(trials > 0, values[:, 0] / np.where(trials > 0, trials, 1), 0.0)
        prior = np.ones(len(y)) if weights is None else weights
        return Response(y, prior * trials, trials, None, "cbind")
    if weights is not None:
        if np.any((values < 0) | (values > 1)):
            raise ValueError(f"with weights=, the binomial response '{name}' must be a proportion between "
                             "0 and 1 (successes / trials, with the trials as weights)")
        if np.any(np.abs(weights * values - np.round(weights * values)) > 1e-3):
            warnings.warn("non-integer #successes in a binomial glm: weights * response should be whole "
                          "numbers of successes (pass the numbers of trials as weights)", stacklevel=4)
        return Response(values, weights, np.ones(len(values)), None, "proportion")
    if not np.all(np.isin(values, (0.0, 1.0))):
        bad = values[~np.isin(values, (0.0, 1.0))]
        raise ValueError(f"the binomial response '{name}' must be 0/1 (or logical, or a two-level factor), but it "
                         f"has other values (e.g. {bad[0]:g}). For counts of successes out of trials use "
                         "cbind(successes, failures) ~ ..., or a proportion with weights=trials")
    return Response(values, np.ones(len(values)), np.ones(len(values)), None, "binary")


def _with_prior_weights(y, ones, weights, name, kind):
    return Response(y, ones if weights is None else weights, ones, None, kind)


def poisson_response(raw, weights, name):
    """Counts for the Poisson family: non-negative whole numbers."""
    values = np.asarray(raw)
    if isinstance(raw, pd.Series) and is_factor(raw) or values.dtype.kind not in "biuf":
        raise TypeError(f"the Poisson response '{name}' must be numeric counts, not {values.dtype}")
    values = values.astype(float)
    if values.ndim != 1:
        raise ValueError("a Poisson response is a single column of counts (cbind is for the binomial family)")
    if np.any(values < 0):
        raise ValueError(f"the Poisson response '{name}' has negative values (min {values.min():g}); counts "
                         "cannot be negative. Check the data, or use lmer for a continuous response")
    if np.any(values != np.round(values)):
        bad = values[values != np.round(values)][0]
        raise ValueError(f"the Poisson response '{name}' has non-integer values (e.g. {bad:g}); the Poisson "
                         "family is for whole-number counts. Round genuine counts, model a rate with an "
                         "offset (offset=np.log(exposure)) on the counts, or use lmer for a continuous response")
    wt = np.ones(len(values)) if weights is None else weights
    return Response(values, wt, np.ones(len(values)), None, "count")


# ---------------------------------------------------------------- the fitted model


class GeneralizedLinearMixedModel(MixedModel):
    """A generalized linear mixed model: lme4's ``glmerMod``.  Create a fitted one with :func:`glmer`;
    ``GeneralizedLinearMixedModel(design, response, family)`` builds the model (cheap) and :meth:`fit` fits it."""

    is_linear = False               # capabilities (mixedlite.core.model): the likelihood is approximated,
    has_residual_variance = False   # and there is no residual variance
    REML = False
    sigma = 1.0

    def __init__(self, design, response, family="binomial", nAGQ=1, tolPwrss=PIRLS_TOL):
        """The model of ``design`` and ``response``, not yet fitted (:meth:`fit`)."""
        self.design, self.resp = design, response
        self._family = get_family(family)
        self.family, self.link = self._family.name, self._family.link
        self.nAGQ = _check_nAGQ(nAGQ, design)
        self.tolPwrss = tolPwrss
        self.pirls = PIRLS(design, response, self._family, tolPwrss)
        self._Z = self.pirls.Z
        self._nodes = gauss_hermite(self.nAGQ) if self.nAGQ > 1 else None

    def fit(self, optimizer=("bobyqa", "bobyqa"), maxeval=100_000, start=None, check_convergence=True):
        """lme4's two stages (see the module docstring); returns the model.  ``start``: theta, or
        (theta, beta) for stage 2."""
        if isinstance(optimizer, str):
            optimizer = (optimizer, optimizer)
        self.optimizer, self.maxeval = tuple(optimizer), maxeval
        self.convergence = []
        # where the mean leaves its range (identity or sqrt link: a count's mean below 0) the deviance is
        # infinite for the optimiser (PIRLSError), not a floating-point warning
        with single_threaded_blas(), np.errstate(invalid="ignore", divide="ignore"):
            self._fit(start)
        if check_convergence:
            self._check_convergence()
        elif self.is_singular():
            self.convergence.append(SINGULAR_MESSAGE)
        report(self.convergence)
        return self

    # ------------------------------------------------------------ deviance functions

    def _stage1_deviance(self, theta):
        """nAGQ=0: the Laplace deviance at theta, with beta optimised inside PIRLS."""
        try:
            return self.pirls.laplace(self.pirls.run(theta, None, self._lp0))
        except (PIRLSError, np.linalg.LinAlgError, la.LinAlgError):
            return np.inf

    def deviance_function(self, pars):
        """Stage 2: the Laplace (nAGQ=1) or AGQ deviance at ``pars = (theta, beta)``."""
        k = len(self.design.theta_lower)
        try:
            state = self.pirls.run(pars[:k], pars[k:], self._lp0)
        except (PIRLSError, np.linalg.LinAlgError, la.LinAlgError):
            return np.inf
        if self.nAGQ > 1:
            return self.pirls.agq(state, *self._nodes)
        return self.pirls.laplace(state)

    # ------------------------------------------------------------ fitting

    def _fit(self, start):
        """Stage 1 (nAGQ = 0: theta, beta inside PIRLS), with the mirror restart; then stage 2 (theta and
        beta) with the gradient, mirror and saddle restarts and the Newton polish where lme4 takes
        derivatives (:mod:`mixedlite.core.fitting`)."""
        design, pirls, resp = self.design, self.pirls, self.resp
        lower = design.theta_lower
        theta0 = design.theta_start if start is None else np.asarray(start, dtype=float)[: len(lower)]
        mustart = self._family.mustart(resp.y, resp.wt)
        self._lp0 = pirls.offset + self._family.linkfun(mustart)
        # initialisation as lme4: one nAGQ=0 PIRLS at the starting theta, from mustart
        self._lp0 = pirls.run(theta0, None, self._lp0).eta
        stage1 = fit_theta(Criterion(self._stage1_deviance, lower, self.optimizer[0], self.maxeval), theta0,
                           Policies(mirror=True))
        self.optinfo = list(stage1.runs)
        state = pirls.run(stage1.x, None, self._lp0)
        if self.nAGQ == 0:
            self._set_state(state, stage1.fun)
            self._hessian = None
            return
        self._lp0 = state.eta
        k = len(lower)
        pars0 = np.r_[stage1.x, state.beta]
        if start is not None and len(np.asarray(start)) == k + design.X.shape[1]:
            pars0 = np.asarray(start, dtype=float)
        lower2 = np.r_[lower, np.full(len(state.beta), -np.inf)]
        derivatives = self.nobs < MAX_NOBS_FOR_DERIVATIVES

        def gradient_fails(pars, gradient, hessian):
            return _gradient_fails(pars, gradient, hessian, lower2)
        policies = (Policies(derivatives=True, gradient_fails=gradient_fails, restart_optimizer=RESTART_OPTIMIZER,
                             same_optimum=SAME_OPTIMUM, restart_step=RESTART_STEP, mirror=True, turn=True,
                             saddle=True)
                    if derivatives else Policies())
        stage2 = fit_theta(Criterion(self.deviance_function, lower2, self.optimizer[1], self.maxeval, n_theta=k,
                                     **centred_intercept(pirls.X, k)), pars0, policies)
        self.optinfo += stage2.runs
        self._gradient, self._hessian, self._hessian_at = stage2.gradient, stage2.hessian, stage2.hessian_at
        self._pars = stage2.x
        fval = self.deviance_function(self._pars)  # leaves PIRLS at the optimum
        self._set_state(pirls.state, fval)

    def _set_state(self, state, objective):
        self._state = state
        self._theta = np.asarray(state.theta, dtype=float)
        self.beta = np.asarray(state.beta, dtype=float)
        self.u = state.u
        self.b = self._lambda() @ self.u
        self.objective = float(objective)
        self._mu, self._eta = state.mu, state.eta
        self._vcov_cache = self._cond_var_cache = None

    @property
    def _cond_var(self):
        """Conditional covariances of the random effects at the fit's last PIRLS step (lme4's condVar),
        computed when first asked for."""
        if self._cond_var_cache is None:
            self._cond_var_cache = self.pirls.conditional_variances_at(self._state)
        return self._cond_var_cache

    @property
    def _vcov(self):
        """beta's covariance, computed on first use (lme4's ``vcov()``): for a Laplace or AGQ fit,
        beta's block of ``2 H^-1`` with H the finite-difference Hessian of the deviance in (theta, beta)
        at the optimum (:meth:`_hessian_vcov`); for nAGQ = 0, or where that is not positive definite,
        ``(R_X' R_X)^-1`` (:meth:`_rx_vcov`).

        The Hessian of the convergence checks was taken at the last optimiser's answer; where the
        Newton steps moved on by more than ``HESSIAN_REUSE_MOVE`` it is taken anew at the optimum, as
        lme4 takes it there.  Near a singular fit a step of 1e-5 once changed an SE by 6e-4 relative
        (tests/differential poisson_007_0); 19 randomized fits had SEs up to 2% from lme4's before.
        A smaller move changes the Hessian by less than the finite differences' own noise (see
        ``HESSIAN_REUSE_MOVE``).  On first use, so that refits which need no SEs (bootstrap, profile)
        do not pay for it.
        """
        if self._vcov_cache is None:
            vcov = None
            if self._hessian is not None:
                if np.max(np.abs(self._pars - self._hessian_at)) > HESSIAN_REUSE_MOVE:
                    self._gradient, self._hessian = deriv12(self.deviance_function, self._pars)
                    self._hessian_at = self._pars
                    self.deviance_function(self._pars)  # PIRLS back at the optimum
                vcov = self._hessian_vcov(self._hessian)
            self._vcov_cache = self._rx_vcov(self._state) if vcov is None else vcov
        return self._vcov_cache

    def _rx_vcov(self, state):
        """``(R_X' R_X)^-1``: beta's covariance from the PIRLS factorisation (lme4's ``unsc()``)."""
        R, qr, p = self.pirls.factorize_state(state, with_X=True).R, self.pirls.qr, self.pirls.p
        return unscaled_vcov(np.tril(R[qr: qr + p, qr: qr + p]))

    def _hessian_vcov(self, hessian):
        """lme4's default for GLMMs: beta's block of ``2 H^-1``, H the Hessian of the deviance."""
        k = len(self._theta)
        try:
            inv = np.linalg.inv(hessian)
        except np.linalg.LinAlgError:
            inv = None
        if inv is None or not np.all(np.isfinite(inv)):
            bad = True
        else:
            h = inv[k:, k:]
            v = h + h.T
            bad = len(v) > 0 and np.linalg.eigvalsh(v).min() <= 0
        if bad:
            warnings.warn("variance-covariance matrix computed from finite-difference Hessian is not positive "
                          "definite or contains NA values: falling back to var-cov estimated from RX",
                          stacklevel=4)
            return None
        return v

    def _check_convergence(self):
        messages = [m for m in (optimizer_message(opt, self.maxeval, self.design) for opt in self.optinfo) if m]
        singular = self.is_singular()
        if singular:
            messages.append(SINGULAR_MESSAGE)
        if self._hessian is not None and not singular:
            message = check_gradient(self._gradient, self._hessian)
            if message:
                messages.append(message)
            messages += check_hessian(self._hessian[len(self._theta):, len(self._theta):], kind="fixed-effect")
            messages += check_hessian(self._hessian)
        scale_message = check_predictor_scales(self.design.X)
        if scale_message:
            messages.insert(0, scale_message)
        self.convergence += messages

    # ------------------------------------------------------------ likelihood

    def loglik(self):
        """The (approximate) log-likelihood as lme4 reports it: ``-objective / 2``.

        For nAGQ > 1 lme4's deviance leaves out the saturated-model constant, so the AGQ
        log-likelihood is not comparable with the Laplace one (compare models fitted alike).
        """
        return -self.objective / 2

    def deviance(self):
        """lme4's ``deviance(m)`` for a GLMM: the sum of squared deviance residuals."""
        return float(np.sum(self._dev_resid()))

    def refit_ml(self):
        """GLMMs are already maximum-likelihood fits."""
        return self

    def _dev_resid(self):
        return self._family.dev_resid(self.resp.y, self._mu, self.resp.wt)

    # ------------------------------------------------------------ predictions and residuals

    def _inverse_link(self, eta):
        return self._family.linkinv(np.asarray(eta, dtype=float))

    def _linear_predictor(self, b=None):
        b = self.b if b is None else b
        return self.pirls.offset + self.design.X.to_numpy() @ self.beta + self._Z @ b

    def predict(self, newdata=None, re_form=None, allow_new_levels=False, type="link"):
        """Predictions on the link scale (``type="link"``) or the response scale (``"response"``).

        Conditional on the random effects (default) or population-level (``re_form="~0"``).
        The offset is included: for newdata, ``offset(...)`` terms are evaluated on it and an
        ``offset=`` column is read from it (a model whose offset was given as an array cannot predict newdata).
        """
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', not {type!r}")
        eta = super().predict(newdata, re_form, allow_new_levels, type="link")
        eta.index = self.design.data.index if newdata is None else newdata.index
        return pd.Series(self._inverse_link(eta.to_numpy()), index=eta.index, name="prediction") \
            if type == "response" else eta

    def fitted(self):
        """Fitted means on the response scale (proportions for binomial), given the random effects."""
        return pd.Series(self._mu, index=self.design.data.index, name="fitted")

    def residuals(self, type="deviance", scaled=False):
        """Residuals: ``"deviance"`` (lme4's default for GLMMs), ``"pearson"``, ``"response"`` or ``"working"``."""
        y, mu, wt = self.resp.y, self._mu, self.resp.wt
        if type == "deviance":
            r = np.sign(y - mu) * np.sqrt(np.maximum(self._dev_resid(), 0))
        elif type == "pearson":
            r = (y - mu) * np.sqrt(wt) / np.sqrt(self._family.variance(mu))
        elif type == "response":
            r = y - mu
        elif type == "working":
            r = (y - mu) / self._family.mu_eta(self._eta)
        else:
            raise ValueError(f"type must be 'deviance', 'pearson', 'response' or 'working', not {type!r}")
        return pd.Series(r, index=self.design.data.index, name="residuals")

    # ------------------------------------------------------------ simulation

    def simulate(self, nsim=1, seed=None, use_u=False):
        """Simulate responses: new random effects (``use_u=False``, lme4's default), then y | u.

        Columns ``sim_1, ...`` on the scale the response was given in: 0/1, counts,
        proportions (weights= responses), or numbers of successes (cbind responses; the
        numbers of trials stay those of the data).
        """
        draws = self._simulate_array(nsim, np.random.default_rng(seed), use_u)
        return pd.DataFrame(draws, index=self.design.data.index, columns=[f"sim_{i + 1}" for i in range(nsim)])

    def _simulate_array(self, nsim, rng, use_u=False):
        """``simulate``'s draws as an (nobs, nsim) array: what :meth:`refit` takes (the parametric bootstrap)."""
        fixed = self.pirls.offset + self.design.X.to_numpy() @ self.beta
        if use_u:
            eta = np.repeat((fixed + self._Z @ self.b)[:, None], nsim, axis=1)
        else:
            u = rng.standard_normal((self._Z.shape[1], nsim))
            eta = fixed[:, None] + self._Z @ (self._lambda() @ u)
        draws = self._family.simulate(self._family.linkinv(eta), self.resp.wt, rng)
        if self.resp.kind == "cbind":
            draws = np.round(draws * self.resp.n[:, None])
        return draws

    def refit(self, newresponse, check_convergence=False):
        """The same model fitted to a new response (as returned by :meth:`simulate`), as lme4's ``refit``."""
        y = np.asarray(newresponse, dtype=float)
        if y.shape != (self.nobs,):
            raise ValueError(f"newresponse must have one value per observation ({self.nobs}), got shape {y.shape}")
        r = self.resp
        if r.kind == "cbind":
            y = np.where(r.n > 0, y / np.where(r.n > 0, r.n, 1), 0.0)
        new = Response(y, r.wt, r.n, r.offset, r.kind)
        start = np.r_[self._theta, self.beta] if self.nAGQ > 0 else self._theta
        model = GeneralizedLinearMixedModel(self.design, new, self._family, self.nAGQ, tolPwrss=self.tolPwrss)
        return model.fit(self.optimizer, self.maxeval, start=start, check_convergence=check_convergence)

    # ------------------------------------------------------------ summary

    def summary(self):
        """lme4's ``summary(glmer fit)``: information criteria, random effects, z tests."""
        from .display import format_summary, information_criteria_text
        se = np.sqrt(np.diag(self._vcov))
        table = pd.DataFrame({"Estimate": self.beta, "Std. Error": se}, index=self.design.fixed_names)
        table["z value"] = table["Estimate"] / table["Std. Error"]
        table["Pr(>|z|)"] = 2 * stats.norm.sf(np.abs(table["z value"]))
        method = ("Laplace Approximation" if self.nAGQ == 1
                  else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nAGQ}")
        header = [f"Generalized linear mixed model fit by maximum likelihood ({method}) ['glmerMod']",
                  f" Family: {self.family}  ( {self.link} )", f"Formula: {self.formula}"]
        header += ["", information_criteria_text(self)]
        return format_summary(self, header, table, self.residuals("pearson").to_numpy())


def _gradient_fails(pars, gradient, hessian, lower):
    """lme4's gradient check on the coordinates not held at their lower bound; a coordinate on
    its bound where the deviance curves down into the interior (``H_ii < 0``) fails it too, and so does
    a nearly unidentifiable Hessian over the free coordinates (lme4's "very large eigenvalue" or "large
    eigenvalue ratio"): the check scales the gradient by ``H^-1``, which hides the slope along the flat
    directions where BOBYQA stops short (tests/differential poisson_021_1, a badly scaled offset: the
    scaled gradient passed 8.8e-3 above lme4's optimum; the Nelder-Mead restarts end 3.2e-7 below it)."""
    free = free_coordinates(pars, gradient, lower)
    if np.any(~free & (np.diag(hessian) < 0)):
        return True
    if not free.any():
        return False
    free_hessian = hessian[np.ix_(free, free)]
    if not np.all(np.isfinite(free_hessian)):
        return check_gradient(gradient[free], free_hessian) is not None
    return check_gradient(gradient[free], free_hessian) is not None or any(
        "nearly unidentifiable" in message for message in check_hessian(free_hessian))


def centred_intercept(X, k):
    """Stage 2's search coordinates for ``x = (theta, beta)`` (:class:`~mixedlite.core.fitting.Criterion`'s
    ``to_search`` and ``from_search``, as keyword arguments): the intercept replaced by the intercept at
    the means of the off-centre columns of X, ``beta_0 + sum_j mean(x_j) beta_j``, x_j a continuous column
    whose mean exceeds its standard deviation (binary columns, the others, and theta unchanged).

    The deviance is the same function; only the optimiser's view of it changes.  Such a predictor is nearly
    collinear with the intercept (the cosine of their angle above 0.7), a long narrow valley that BOBYQA and
    Nelder-Mead crawl along: grouseticks with the uncentred HEIGHT (mean 462, SD 36) took 326 BOBYQA and
    237 Nelder-Mead evaluations, 118 and 150 in these coordinates, to the same optimum (1780.5427069892
    against 1780.5427069888).  Well-centred predictors are left alone: the deviance is rough (PIRLS stops at
    a tolerance), and another path can end in another of its dips (tests/test_optimizer.py's poisson_04, x
    of mean 0.05 and SD 1, ended 1.6e-5 above lme4 when x was centred too).  No arguments where no column
    is off centre or X has no intercept.
    """
    intercept = np.flatnonzero(np.all(X == 1.0, axis=0))
    means = X.mean(axis=0)
    off_centre = ~np.all(np.isin(X, (0.0, 1.0)), axis=0) & (np.abs(means) > X.std(axis=0, ddof=1))
    if not len(intercept) or not off_centre.any():
        return {}
    shift = np.r_[np.zeros(k), np.where(off_centre, means, 0.0)]  # x -> sum_j mean(x_j) beta_j
    i0 = k + intercept[0]

    def to_search(x):
        s = np.array(x, dtype=float)
        s[i0] = x[i0] + shift @ x
        return s

    def from_search(s):
        x = np.array(s, dtype=float)
        x[i0] = s[i0] - shift @ s
        return x
    return {"to_search": to_search, "from_search": from_search}


def _check_nAGQ(nAGQ, design):
    if int(nAGQ) != nAGQ or not 0 <= nAGQ <= 25:
        raise ValueError(f"nAGQ must be a whole number from 0 to 25, got {nAGQ!r} "
                         "(0: fast fit, 1: Laplace approximation, > 1: adaptive Gauss-Hermite quadrature)")
    nAGQ = int(nAGQ)
    if nAGQ > 1 and (len(design.terms) != 1 or design.terms[0].p != 1):
        terms = " + ".join(str(t) for t in design.formula.random)
        raise ValueError(f"nAGQ > 1 is only available for models with a single, scalar random-effects term "
                         f"such as (1 | group); this model has {terms}. Use nAGQ=1 (the Laplace "
                         "approximation) for this model, or simplify the random effects to one (1 | group) term")
    return nAGQ


def glmer(formula, data, family="binomial", nAGQ=1, weights=None, offset=None, link=None,
          optimizer=("bobyqa", "bobyqa"), maxeval=100_000, start=None, check_convergence=True,
          tolPwrss=PIRLS_TOL, contrasts=None):
    """Fit a generalized linear mixed model, as lme4's ``glmer``.

    >>> g = glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)   # doctest: +SKIP

    ``family``: ``"binomial"`` (logit link) for 0/1, logical, two-level factor (first level =
    failure), ``cbind(successes, failures)`` or proportion responses (with ``weights=`` the
    numbers of trials); ``"poisson"`` (log link) for counts, with ``offset=`` (e.g. the log
    of exposure, or ``offset(log(exposure))`` in the formula; several offsets are summed).
    ``weights`` and ``offset`` are column names or arrays, one value per row.
    ``contrasts``: factor codings, lme4's ``contrasts=`` (e.g. ``{"recipe": "sum"}``).
    ``link``: ``"probit"`` or ``"cloglog"`` for the binomial, ``"sqrt"`` or ``"identity"`` for the
    Poisson (R's ``binomial(link = "probit")``); None is the default link.
    ``nAGQ``: 1 = Laplace approximation, 0 = faster and cruder (beta estimated inside PIRLS),
    k > 1 = adaptive Gauss-Hermite quadrature with k nodes (one scalar random-effects term only).
    ``optimizer``: the stage 1 and stage 2 optimisers (lme4's ``glmerControl`` uses
    ``("bobyqa", "Nelder_Mead")``).  ``tolPwrss``: PIRLS tolerance (lme4's 1e-7; see the module
    docstring).  The fitted model has lme4's methods: ``fixef``, ``vcov``, ``varcorr``,
    ``ranef(condVar=True)``, ``predict(type="link" | "response")``, ``residuals`` (deviance by
    default), ``loglik``/``aic``/``bic``, ``deviance()``, ``simulate``, ``summary()``.
    """
    fam = get_family(family, link)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    data = data.copy()
    extra = []
    if weights is not None:
        data[WEIGHTS_COLUMN] = column_or_array(weights, data, "weights")
        extra.append(WEIGHTS_COLUMN)
    if isinstance(offset, str) and offset not in data.columns:
        raise KeyError(f"offset column {offset!r} is not in the data; pass a column name or one value per row")
    design = Design(formula, data, extra_columns=extra, contrasts=contrasts, offset=offset)
    raw = design.response()
    name = design.formula.response
    w = prior_weights(design)
    if w is not None and (np.any(w < 0) or not np.all(np.isfinite(w))):
        raise ValueError("weights must be non-negative numbers (the numbers of trials for a proportion response)")
    response = (binomial_response if fam.name == "binomial" else poisson_response)(raw, w, name)
    if design.has_offset:
        response.offset = design.offset
    if len(np.unique(response.y)) < 2:
        raise ValueError(f"the response '{name}' is constant: there is nothing to model. Check the data subset")
    try:
        model = GeneralizedLinearMixedModel(design, response, fam, nAGQ=nAGQ, tolPwrss=tolPwrss).fit(
            optimizer, maxeval, start=start, check_convergence=check_convergence)
    except PIRLSError as error:
        if fam.link not in ("identity", "sqrt"):
            raise
        raise ValueError(f"glmer could not fit the {fam.name} model with the {fam.link} link ({error}): with this "
                         "link the linear predictor is not kept inside the range of the mean (a count's mean must "
                         "be positive), and the iterations left it. Use the default link, or pass start= values "
                         "close to the solution") from None
    return model


def overdispersion(model):
    """A dispersion check for count (and binomial) GLMMs.

    The sum of squared Pearson residuals is roughly chi-squared on the residual degrees of
    freedom (observations minus parameters) when the model's variance is right.  A ratio
    well above 1 (with a small p-value) signals overdispersion; an observation-level random
    effect ``(1 | obs)`` is one remedy.  Returns a Series: chisq, ratio, rdf, p.
    """
    rdf = model.nobs - model.df
    chisq = float(np.sum(model.residuals("pearson") ** 2))
    return pd.Series({"chisq": chisq, "ratio": chisq / rdf, "rdf": rdf, "p": stats.chi2.sf(chisq, rdf)})
