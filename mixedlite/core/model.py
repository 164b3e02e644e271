"""The fitted-model contract: what every mixed model provides, and what it can be asked.

:class:`MixedModel` holds everything a fitted model derives from its estimates, with lme4's names
and layouts.  Its two subclasses fit: :class:`mixedlite.core.lmm.LinearMixedModel` (lmer) and
:class:`mixedlite.core.glmm.GeneralizedLinearMixedModel` (glmer, and glmer.nb).  Building a model from its
design is cheap; ``fit()`` fits it (``lmer()`` and ``glmer()`` do both), with the one optimisation
driver of :mod:`mixedlite.core.fitting`.

What every fitted model provides
================================

Set by the subclass when it fits (the estimates)::

    design     the Design: y, X, the random-effects terms, the offset (mixedlite.core.design)
    _theta     theta as an array (``theta`` is the named Series)
    beta       the fixed effects;   _vcov   their covariance matrix
    b          the random effects, term by term, level by level;   u   their spherical version
    _cond_var  per term, the conditional covariance of each level's b, shape (levels, p, p)
    sigma      the residual standard deviation (1 for GLMMs)
    objective  the criterion at the optimum: REML criterion, ML deviance or GLMM deviance
    REML       True for a REML fit (always False for GLMMs)
    family     "gaussian", "binomial", "poisson", ...
    _Z         Z, sparse (n x q)
    convergence, optinfo   the checks' messages and the optimiser's report

Methods the subclass defines: ``loglik()``, ``residuals(type)``, ``simulate(nsim, seed)``,
``_simulate_array(nsim, rng)`` (the draws ``refit`` takes), ``refit(newresponse)``,
``refit_ml()``, ``summary()``.  Everything else (``fixef``, ``vcov``, ``varcorr``, ``ranef``,
``coef``, ``predict``, ``fitted``, ``aic``, ``bic``, ``df``, ...) is defined here once.

Capabilities
============

Some methods apply to one kind of model only.  Each model class declares what it can do in two
class attributes, and inference code asks those (with :func:`require`, which names the method
and the reason in its error), never ``hasattr``:

``is_linear``
    a Gaussian response with the identity link, fitted by penalized least squares: the
    criterion has a closed form in theta and sigma (``model.pls``, a
    :class:`mixedlite.core.pls.ProfiledLeastSquares`).  Satterthwaite's and Kenward-Roger's
    degrees of freedom, lmerTest's tables and ``ranova`` need it; profiles use it.
``has_residual_variance``
    sigma is estimated (lme4's "Residual" row of ``VarCorr``, one more parameter in ``df``,
    noise in prediction intervals).  GLMMs (binomial, Poisson) have none.

Where confint(), predict_interval() and summary(ddf=) live
===========================================================

Import arrows point one way (``tests/test_architecture.py`` checks it): the fitting core
(formula, design, terms, lmm, pirls, glmm, families, optimize, diagnostics, this module) never
imports inference (anova, Satterthwaite, Kenward-Roger, profile, bootstrap, prediction, ...)
or the course's helpers (plots, widgets, report, selfcheck).  Yet ``m.confint()``,
``m.predict_interval()`` and ``m.summary(ddf=...)`` are methods of every fit.  Their
mathematics lives in the inference modules, which hand the function to the core with the
decorator :func:`inference_method`; the method here calls it by name.  ``import mixedlite``
imports the inference modules (``mixedlite/__init__.py``), so they are in place before any model
is fitted.

Notation: the chapters and the code
===================================

The chapters write a random intercept as ``u_j ~ N(0, tau^2)``; lme4 and this code call that
``b`` and keep ``u`` for the *spherical* effects, ``b = Lambda(theta) u`` with ``u ~ N(0, sigma^2 I)``
(GLMMs: ``u ~ N(0, I)``).  For a scalar term ``(1 | g)``, ``Lambda = theta I`` and so
``tau = theta sigma``: **theta = tau / sigma**.  For a term with p effects per level, T(theta) is
lower triangular (theta fills it column by column, lme4's order: ``term.theta_positions``) and each
level's b has covariance ``sigma^2 T T'``.  :mod:`mixedlite.core.reference` writes every equation with these names,
densely; the table below says where each symbol lives in the fast path.

================================  =====================================  =====================================
chapters (lme4 paper)             meaning                                code (lmer: L, glmer: G)
================================  =====================================  =====================================
y, y_ij                           response (minus the offset)            ``pls.y`` (L), ``resp.y`` (G)
X, beta                           fixed-effects matrix and effects       ``design.X``, ``beta``, ``fixef()``
Z                                 one column per effect and level        ``_Z``, ``term.Z()``
u_j, (u_0j, u_1j)  (lme4: b)      cluster j's random effects             ``b``, ``ranef()``
(lme4: u)                         spherical effects, ``b = Lambda u``    ``u``
tau^2 (ch. 1: sigma_u^2);         random-effects (co)variances           ``varcorr()``, ``_term_covariances()``
tau_0, tau_1, rho (ch. 9)
sigma^2                           residual variance                      ``sigma`` (its square root)
theta (= tau / sigma, scalar)     relative covariance parameters         ``theta``, ``_theta``
T(theta), Lambda(theta)           one term's factor; all of them         ``term.relative_factor(theta)``,
                                                                         ``_lambda()``
L  (L L' = Lambda'Z'Z Lambda+I)   sparse Cholesky factor                 ``pls.factorize_at()`` (L),
                                                                         ``pirls.factorize_state()`` (G)
R_X                               Cholesky factor of the beta part       ``RX`` (L)
r^2                               penalized residual sum of squares      ``pls.pieces()[2]`` (L)
log|L|^2, log|R_X|^2              log-determinants in the criteria       ``pls.pieces()[:2]`` (L)
REML criterion, deviance (ch. 4)  what the optimiser minimises           ``criterion(theta)`` (L),
                                                                         ``deviance_function(pars)`` (G);
                                                                         at the optimum ``objective``
Var(u_j | y) (ch. 6)              conditional covariance of b            ``_cond_var``, ``ranef(condVar=True)``
eta, eta_ij (ch. 8)               linear predictor ``offset + X beta     ``_eta`` (G), ``predict()``
                                  + Z b``
mu, p_ij, lambda_ij (ch. 8)       conditional mean ``g^-1(eta)``         ``_mu`` (G), ``fitted()``
W                                 PIRLS working weights                  ``sqrtw`` (its square root, G)
w_i                               prior weights (``weights=``)           ``pls.weights`` (L), ``resp.wt`` (G)
lp0 (lme4)                        linear predictor PIRLS starts from     ``_lp0`` (G)
theta (ch. 14)                    negative-binomial shape                ``nb_theta`` (G)
================================  =====================================  =====================================
"""
import re

import numpy as np
import pandas as pd

from .diagnostics import is_singular
from .formula import grouping_factor, model_matrix, parse_formula, variables_in
from .terms import lambda_matrix


def r_make_unique_names(names):
    """R's ``make.names(names, unique = TRUE)``: invalid characters become ``.``, an ``X`` is put before
    a name that does not start with a letter (or a dot not followed by a digit), repeats get ``.1``, ``.2``."""
    syntactic = []
    for name in names:
        name = re.sub(r"[^A-Za-z0-9._]", ".", name)
        syntactic.append(name if re.match(r"[A-Za-z]|\.(?![0-9])", name) else "X" + name)
    out, counts = [], {}
    for name in syntactic:
        unique = name
        while unique in out:
            counts[name] = counts.get(name, 0) + 1
            unique = f"{name}.{counts[name]}"
        out.append(unique)
    return out


_INFERENCE_METHODS = {}  # method name -> the inference function that implements it


def inference_method(function):
    """Decorator: ``function(model, ...)`` is what the fitted models' method of the same name calls.

    Used by the inference modules (``@inference_method def confint(model, ...)``), so that the core
    can offer ``m.confint()`` without importing them (see the module docstring).
    """
    _INFERENCE_METHODS[function.__name__] = function
    return function


REQUIREMENTS = {  # capability -> what a method that requires it is for, said in the error without it
    "is_linear": ("is for linear mixed models (lmer fits): it needs the closed-form criterion of a Gaussian "
                  "response with the identity link, which a GLMM's approximated likelihood does not have"),
}


def require(model, method, capability=None, fix=""):
    """Check that ``method`` applies to ``model``: a fitted mixed model with ``capability`` (if given).

    Raises TypeError for anything that is not a fitted model, ValueError naming the method, what
    it needs and ``fix`` (what to do instead) for a model without the capability.
    """
    if not isinstance(model, MixedModel):
        raise TypeError(f"{method} needs a fitted model from ml.lmer or ml.glmer, not a {type(model).__name__}")
    if capability is not None and not getattr(model, capability):
        raise ValueError(f"{method} {REQUIREMENTS[capability]}" + (f"; {fix}" if fix else ""))


class MixedModel:
    """Methods common to :class:`LinearMixedModel` and :class:`GeneralizedLinearMixedModel`.

    A subclass sets the estimates listed in the module docstring and declares its capabilities.
    """

    is_linear: bool              # capabilities: declared by every subclass (see the module docstring)
    has_residual_variance: bool

    # ------------------------------------------------------------ sizes and names

    @property
    def nobs(self):
        return self.design.n

    @property
    def ngrps(self):
        """Number of levels of each grouping factor (lme4's ``ngrps``)."""
        return {t.group: t.n_levels for t in self.design.terms}

    @property
    def formula(self):
        return self.design.formula_text

    @property
    def theta(self):
        """The relative covariance parameters, with lme4's names (``getME(m, "theta")``)."""
        return pd.Series(self._theta, index=self.design.theta_names, name="theta")

    @staticmethod
    def _inference(name):
        """The inference function behind the method ``name`` (registered by :func:`inference_method`)."""
        return _INFERENCE_METHODS[name]

    def _at_theta(self, name, build):
        """``build(self)``, computed once per theta: a fit's derived machinery (e.g. Satterthwaite's)."""
        cached = self.__dict__.get(f"_cached_{name}")
        if cached is None or not np.array_equal(cached[0], self._theta):
            cached = (self._theta.copy(), build(self))
            setattr(self, f"_cached_{name}", cached)
        return cached[1]

    def _lambda(self):
        """Lambda(theta) over all random effects (sparse), so that ``b = Lambda u``."""
        return lambda_matrix(self.design.terms, self.design.split_theta(self._theta))

    def _term_blocks(self, values):
        """Cut a vector over all random effects into one (levels, p) array per term."""
        out, start = [], 0
        for term in self.design.terms:
            out.append(np.asarray(values[start: start + term.q]).reshape(term.n_levels, term.p))
            start += term.q
        return out

    # ------------------------------------------------------------ estimates

    def fixef(self):
        """Fixed-effects estimates, named as R names the columns of X."""
        return pd.Series(self.beta, index=self.design.fixed_names, name="Estimate")

    def vcov(self):
        """Covariance matrix of the fixed-effects estimates."""
        names = self.design.fixed_names
        return pd.DataFrame(self._vcov, index=names, columns=names)

    def _term_covariances(self):
        """Covariance matrix of each term's effects: ``sigma^2 T T'``."""
        thetas = self.design.split_theta(self._theta)
        factors = [t.relative_factor(th) for t, th in zip(self.design.terms, thetas)]
        return [self.sigma**2 * T @ T.T for T in factors]

    def varcorr(self):
        """Variance components as lme4's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor.

        var2 is missing (None, lme4's NA) except on covariance rows; var1 too on the Residual row.

        For each term: one row per variance (sdcor = standard deviation), then one row per
        covariance (sdcor = correlation); then the residual (linear models only).
        Terms sharing a grouping factor are named ``g``, ``g.1``, ... as R does; then, as lme4,
        every group name is made syntactic (``b:a`` becomes ``b.a``, and ``b.a.1`` for the second).
        """
        rows = []
        groups = [term.group for term in self.design.terms]
        if len(set(groups)) < len(groups):  # lme4's VarCorr: make.names(groups, unique = TRUE)
            groups = r_make_unique_names(groups)
        for term, cov, grp in zip(self.design.terms, self._term_covariances(), groups):
            sd = np.sqrt(np.diag(cov))
            for i, name in enumerate(term.names):
                rows.append((grp, name, None, cov[i, i], sd[i]))
            for j in range(term.p):
                for i in range(j + 1, term.p):
                    corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                    rows.append((grp, term.names[j], term.names[i], cov[i, j], corr))
        if self.has_residual_variance:
            rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        frame = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
        for k, column in ((1, "var1"), (2, "var2")):  # None for every model (a str column would hold NaN)
            frame[column] = pd.Series([row[k] for row in rows], dtype=object)
        return frame

    def _grouped_terms(self):
        """Terms by grouping factor, in term order: {group: [term indices]}."""
        groups = {}
        for k, term in enumerate(self.design.terms):
            groups.setdefault(term.group, []).append(k)
        return groups

    def ranef(self, condVar=False):
        """Conditional modes of the random effects (BLUPs).

        ``condVar=False``: a dict grouping factor -> DataFrame (rows = levels, columns = effects),
        as lme4's ``ranef(m)``.  ``condVar=True``: one tidy DataFrame with columns grpvar, term,
        grp, condval, condsd, as lme4's ``as.data.frame(ranef(m, condVar = TRUE))``.
        """
        blocks = self._term_blocks(self.b)
        groups = self._grouped_terms()
        if not condVar:
            return {g: pd.concat([pd.DataFrame(blocks[k], index=pd.Index(self.design.terms[k].levels, name=g),
                                               columns=self.design.terms[k].names) for k in ks], axis=1)
                    for g, ks in groups.items()}
        rows = []
        for g, ks in groups.items():
            for k in ks:
                term = self.design.terms[k]
                sd = np.sqrt(np.diagonal(self._cond_var[k], axis1=1, axis2=2))
                for j, name in enumerate(term.names):
                    rows.append(pd.DataFrame({"grpvar": g, "term": name, "grp": term.levels,
                                              "condval": blocks[k][:, j], "condsd": sd[:, j]}))
        return pd.concat(rows, ignore_index=True)

    def coef(self):
        """Per-level coefficients: the fixed effects plus each level's random effects (lme4's ``coef``).

        Random effects without a fixed effect of the same name (``(1 | g)`` in ``y ~ 0 + x``) get a
        fixed part of 0 and come first, as in lme4: the columns start with ``(Intercept)``.
        """
        fixed = self.fixef()
        ranef = self.ranef()
        missing = [name for re in ranef.values() for name in re.columns if name not in fixed.index]
        fixed = pd.concat([pd.Series(0.0, index=list(dict.fromkeys(missing))), fixed])
        out = {}
        for g, re in ranef.items():
            table = pd.DataFrame(np.tile(fixed.to_numpy(), (len(re), 1)), index=re.index, columns=fixed.index)
            for column in re.columns:
                table[column] = table[column] + re[column]
            out[g] = table
        return out

    def confint(self, parm=None, level=0.95, method="Wald", nsim=500, seed=None, progress=True):
        """Confidence intervals with lme4's ``oldNames = FALSE`` row names (``sd_(Intercept)|Subject``, ...).

        ``method="Wald"`` (``estimate +- z SE`` for the fixed effects; NaN for variance parameters,
        as lme4), ``"profile"`` or ``"boot"`` (percentile, ``nsim`` refits, ``seed``; ``progress``
        shows a progress bar).  See :func:`mixedlite.inference.inference.confint`.
        """
        return self._inference("confint")(self, parm=parm, level=level, method=method, nsim=nsim, seed=seed,
                                          progress=progress)

    def is_singular(self, tol=1e-4):
        """lme4's ``isSingular``: is a variance estimated as zero or a correlation as +-1?"""
        return is_singular(self._theta, self.design.theta_lower, tol)

    # ------------------------------------------------------------ likelihood

    @property
    def df(self):
        """Number of estimated parameters (lme4's ``attr(logLik(m), "df")``)."""
        return len(self.beta) + len(self._theta) + int(self.has_residual_variance)

    def aic(self):
        return -2 * self.loglik() + 2 * self.df

    def bic(self):
        return -2 * self.loglik() + np.log(self.nobs) * self.df

    # ------------------------------------------------------------ predictions

    def _linear_predictor(self, b=None):
        """``X beta + Z b`` on the data the model was fitted to (without the offset)."""
        b = self.b if b is None else b
        return self.design.X.to_numpy() @ self.beta + self._Z @ b

    def predict(self, newdata=None, re_form=None, allow_new_levels=False, type="link"):
        """Predictions: conditional on the random effects (default), on some of them, or population-level.

        ``re_form=None`` includes all random effects; ``re_form="~0"`` (or ``NA``) gives the
        population-level prediction ``X beta``; ``re_form="~(1 | Subject)"`` includes only the
        random effects it names (here the subjects' intercepts, not their slopes), as lme4's
        ``re.form``.  Levels of a grouping factor not seen in the fit raise an error unless
        ``allow_new_levels=True``, when their random effects are 0 (for intervals that draw a
        new level's effects instead, see :meth:`predict_interval`).
        ``type="response"`` applies the inverse link (GLMMs).
        """
        masks = self._re_form_masks(re_form)
        if newdata is None:
            eta = self.design.X.to_numpy() @ self.beta + self.design.offset
            if any(mask.any() for mask in masks):
                eta = eta + self._Z @ (self.b * np.concatenate([np.tile(m, t.n_levels)
                                                                for m, t in zip(masks, self.design.terms)]))
        else:
            eta = self._predict_new(newdata, masks, allow_new_levels)
        return pd.Series(self._inverse_link(eta) if type == "response" else eta,
                         index=None if newdata is None else newdata.index, name="prediction")

    def predict_interval(self, newdata, level=0.95, nsim=1000, seed=None, re_form=None, include_residual=True,
                         type="link"):
        """Prediction intervals by simulation: a DataFrame with fit, lower, upper and kind
        (population mean, known cluster, new cluster) per row of newdata.

        New clusters draw their random effects from the estimated covariance; known ones from
        their conditional distribution; new observations add residual noise.  See
        :func:`mixedlite.inference.prediction.predict_interval` for the method and how it compares with
        merTools' ``predictInterval`` and lme4's ``bootMer``.
        """
        return self._inference("predict_interval")(self, newdata, level=level, nsim=nsim, seed=seed,
                                                   re_form=re_form, include_residual=include_residual, type=type)

    def _inverse_link(self, eta):
        return eta

    def _re_form_masks(self, re_form):
        """Which random effects a prediction includes (lme4's ``re.form``): per term, one flag per effect.

        None: all; ``"~0"`` / ``NA``: none; ``"~(1 | g) + ..."``: the effects named, matched to the
        model's terms by grouping factor and effect name (``(1 | Subject)`` picks the intercepts
        of ``(Days | Subject)``).
        """
        terms = self.design.terms
        if re_form is None:
            return [np.ones(t.p, dtype=bool) for t in terms]
        text = str(re_form).strip()
        if text.replace(" ", "") in ("~0", "NA", "nan", "~-1", "None"):
            return [np.zeros(t.p, dtype=bool) for t in terms]
        wanted = parse_formula("y " + text) if text.startswith("~") and "|" in text else None
        if wanted is None or wanted.fixed.replace(" ", "") not in ("1", "0", "-1"):
            raise ValueError(f"re_form={re_form!r} is not a formula of random terms: use None (all random "
                             "effects), '~0' (none) or random terms of the model such as '~(1 | Subject)'")
        masks = [np.zeros(t.p, dtype=bool) for t in terms]
        model_terms = " + ".join(str(t) for t in self.design.formula.random)
        for wanted_term in wanted.random:
            same_group = [k for k, t in enumerate(terms) if t.group == wanted_term.group]
            if not same_group:
                raise ValueError(f"re_form names the grouping factor '{wanted_term.group}', which is not in the model "
                                 f"(its random terms: {model_terms})")
            missing = [v for v in variables_in(wanted_term.lhs) if v not in self.design.data.columns]
            if missing:
                raise ValueError(f"re_form uses '{missing[0]}', which is not a variable of the model (its random "
                                 f"terms: {model_terms})")
            names = model_matrix(wanted_term.lhs, self.design.data).columns
            for name in names:
                found = [k for k in same_group if name in terms[k].names]
                if not found:
                    raise ValueError(f"re_form asks for the random effect '{name}' of '{wanted_term.group}', which "
                                     f"the model does not have (its random terms: {model_terms})")
                masks[found[0]][terms[found[0]].names.index(name)] = True
        return masks

    def _new_fixed_matrix(self, newdata):
        """The fixed-effects matrix of newdata, coded as in the fit (levels, contrasts, ``scale()``, ``poly()``)."""
        return self.design.model_matrix(newdata)[self.design.fixed_names].to_numpy()

    def _predict_new(self, newdata, masks, allow_new_levels):
        """``offset + X beta + Z b`` on newdata, with the random effects that ``masks`` select."""
        eta = self._new_fixed_matrix(newdata) @ self.beta + self.design.offset_on(newdata)
        for term, effects, mask in zip(self.design.terms, self._term_blocks(self.b), masks):
            if not mask.any():
                continue
            groups = grouping_factor(term.group, newdata).astype(str)
            position = {level: i for i, level in enumerate(term.levels)}
            new = sorted(set(groups) - set(position))
            if new and not allow_new_levels:
                raise ValueError(f"new levels of '{term.group}' in newdata: {', '.join(new[:5])}. "
                                 "Use allow_new_levels=True to predict them at the population level "
                                 "(their random effects set to 0)")
            rows = model_matrix(term.lhs, newdata, state=self.design.state)[term.names].to_numpy()
            index = np.array([position.get(g, -1) for g in groups])
            contribution = np.where(index[:, None] >= 0, effects[np.maximum(index, 0)], 0.0)
            eta = eta + np.sum(rows * contribution * mask, axis=1)
        return eta

    def fitted(self):
        """Fitted values on the response scale, conditional on the random effects."""
        eta = self._linear_predictor() + self.design.offset
        return pd.Series(self._inverse_link(eta), index=self.design.data.index, name="fitted")

    def __repr__(self):
        return str(self.summary())
