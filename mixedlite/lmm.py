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

Speed comes from the blocked Cholesky of MixedModels.jl.  The term with most levels comes
first; its block of ``Lambda' Z' Z Lambda + I`` is block diagonal (one small p x p block per
level), so it is factored level by level.  Everything else -- the other random terms, X
and y -- forms one small dense block: the Schur complement
``S = Lambda_W' (W'W - W'Z1 G Z1'W) Lambda_W + diag(I, 0)`` with ``W = [Z_rest, X, y]``
and ``G = Lambda_1 (Lambda_1' Z1'Z1 Lambda_1 + I)^-1 Lambda_1'``.  Its Cholesky factor
holds log|L| of the other terms, R_X, and, in its last diagonal element, r.
"""
import copy
import dataclasses

import numpy as np
import pandas as pd
import scipy.linalg as la
import scipy.sparse as sp

from .design import WEIGHTS_COLUMN, Design, column_or_array, prior_weights
from .diagnostics import (GRADIENT_MESSAGE, MAX_NOBS_FOR_DERIVATIVES, SCALED_GRADIENT_MESSAGE, SINGULAR_MESSAGE,
                          check_gradient, check_predictor_scales, convergence_messages, is_singular,
                          optimizer_message, report)
from .formula import is_factor
from .model import MixedModel
from .fitting import Criterion, Policies, fit_theta
from .terms import lambda_matrix

DENSE_LIMIT = 2_000_000  # W'Z1 is kept dense below this many entries
CRITERION_ROUNDING = 1e-13  # relative rounding of the criterion (measured at optima: 2e-16 to 1.4e-14)
FTOL_ABS = 1e-8  # lme4's ftol_abs: a run stops when a step gains less than this or fitting.FTOL_REL relative


class PenalizedLeastSquares:
    """The cross-products of one model, and its profiled criterion as a function of theta."""

    def __init__(self, design, y):
        self.design = design
        terms = design.terms
        X = design.X.to_numpy(dtype=float)
        self.n, self.p = X.shape
        first, rest = terms[0], terms[1:]
        self.first, self.rest = first, rest
        self.q_rest = sum(t.q for t in rest)
        Z1 = first.Z()
        Z_rest = sp.hstack([t.Z() for t in rest], format="csc") if rest else sp.csc_matrix((self.n, 0))
        self.Z = sp.hstack([Z1, Z_rest], format="csc")
        self.X = X
        self.y = np.asarray(y, dtype=float)
        self.weights = prior_weights(design)
        self.log_det_W = float(np.sum(np.log(self.weights))) if self.weights is not None else 0.0
        self._sqrtw = np.sqrt(self.weights) if self.weights is not None else np.ones(self.n)
        self.beta_ls, y_ls = self._least_squares_split(self.y)
        sqrtw = sp.diags(self._sqrtw)
        Z1, Z_rest = (sqrtw @ Z1).tocsc(), (sqrtw @ Z_rest).tocsc()
        W = sp.hstack([Z_rest, sp.csc_matrix(sqrtw @ np.column_stack([X, y_ls]))], format="csc")
        self.first_crossprod = first.level_crossproducts(self.weights)
        WtZ1 = (W.T @ Z1).tocsc()
        if WtZ1.shape[0] * WtZ1.shape[1] <= DENSE_LIMIT:
            self.WtZ1, self._sandwich_map = WtZ1.toarray(), None
        else:
            self.WtZ1, self._sandwich_map = WtZ1, SandwichMap(WtZ1, first.p)
        self.WtW = (W.T @ W).toarray()
        self._penalty = np.r_[np.ones(self.q_rest), np.zeros(self.p + 1)]
        self._diagonal = np.diag_indices(len(self._penalty))
        self._scalar_rest = all(t.p == 1 for t in rest)

    def _least_squares_split(self, y):
        """``y = X beta_ls + e`` by (weighted) least squares: beta_ls and the residual e.

        The cross-products use e in place of y.  Both give the same r^2 (beta absorbs ``X beta_ls``),
        but r^2 is read off the Cholesky factor as ``y'y`` minus what the model explains: with y
        itself, yields near 1500 cancel three digits of r^2 (and of the criterion), with e none.
        """
        if not self.p:
            return np.zeros(0), y
        beta_ls = np.linalg.lstsq(self._sqrtw[:, None] * self.X, self._sqrtw * y, rcond=None)[0]
        return beta_ls, y - self.X @ beta_ls

    def with_response(self, y):
        """A copy for a new response: only the cross-products with y change."""
        y = np.asarray(y, dtype=float)
        if self._sandwich_map is not None:
            return PenalizedLeastSquares(self.design, y)
        new = copy.copy(self)
        new.y = y
        new.beta_ls, y = self._least_squares_split(y)
        wy = y if self.weights is None else self.weights * y
        Wy = np.r_[self.Z[:, self.first.q:].T @ wy, self.X.T @ wy, y @ wy]
        new.WtZ1 = self.WtZ1.copy()
        new.WtZ1[-1] = self.Z[:, : self.first.q].T @ wy
        new.WtW = self.WtW.copy()
        new.WtW[-1, :] = Wy
        new.WtW[:, -1] = Wy
        return new

    # ------------------------------------------------------------ Lambda

    def _lambda_rest(self, thetas):
        """Lambda of the non-leading terms together with an identity for X and y (sparse)."""
        return sp.block_diag([lambda_matrix(self.rest, thetas), sp.identity(self.p + 1)], format="csr")

    def factorize(self, theta):
        """Factor the model at theta: the leading term's per-level Cholesky factors and R (dense).

        Returns (T1, L1, R) with ``L1[j] L1[j]' = T1' Z1j' Z1j T1 + I`` and ``R R' = S``.
        """
        thetas = self.design.split_theta(np.asarray(theta, dtype=float))
        T1 = self.first.factor(thetas[0])
        M1 = T1.T @ self.first_crossprod @ T1 + np.eye(self.first.p)
        L1 = np.linalg.cholesky(M1)
        G = T1 @ np.linalg.inv(M1) @ T1.T  # (levels, p, p): T1 M1^-1 T1'
        K = self._sandwich(G)
        S = self._scale(thetas[1:], np.subtract(self.WtW, K, out=K))
        S[self._diagonal] += self._penalty
        R, info = la.lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("the penalized cross-product matrix is not positive definite")
        return T1, L1, R

    def _sandwich(self, G):
        """``W'Z1 G Z1'W`` for block-diagonal G given as (levels, p, p); only its lower triangle is used."""
        if self._sandwich_map is not None:
            return self._sandwich_map(G)
        B = self.WtZ1
        BG = np.einsum("mlp,lpq->mlq", B.reshape(B.shape[0], -1, self.first.p), G).reshape(B.shape)
        return BG @ B.T

    def _scale(self, thetas, A):
        """``Lambda_W' A Lambda_W`` for the symmetric A given by its lower triangle.

        A row and column scaling when all terms are scalar; a sparse product otherwise."""
        if not self.rest:
            return A
        if self._scalar_rest:
            s = np.concatenate([np.repeat(th, t.n_levels) for t, th in zip(self.rest, thetas)] + [np.ones(self.p + 1)])
            A *= s[:, None]
            A *= s[None, :]
            return A
        A = np.tril(A)
        A += np.tril(A, -1).T
        Lam = self._lambda_rest(thetas)
        return Lam.T @ (Lam.T @ A).T

    # ------------------------------------------------------------ criteria

    def pieces(self, theta):
        """log|L|^2, log|R_X|^2 and the penalized residual sum of squares r^2 at theta."""
        _, L1, R = self.factorize(theta)
        d = np.log(np.diagonal(R))
        logdet_L = 2 * np.log(np.diagonal(L1, axis1=1, axis2=2)).sum() + 2 * d[: self.q_rest].sum()
        logdet_RX = 2 * d[self.q_rest: self.q_rest + self.p].sum()
        return logdet_L, logdet_RX, np.diagonal(R)[-1] ** 2

    def objective(self, theta, REML=True):
        """The profiled REML criterion (REML=True) or deviance (-2 log-likelihood, REML=False)."""
        try:
            logdet_L, logdet_RX, r2 = self.pieces(theta)
        except (np.linalg.LinAlgError, la.LinAlgError):
            return np.inf
        if REML:
            nu = self.n - self.p
            return logdet_L + logdet_RX + nu * (1 + np.log(2 * np.pi * r2 / nu)) - self.log_det_W
        return logdet_L + self.n * (1 + np.log(2 * np.pi * r2 / self.n)) - self.log_det_W

    # ------------------------------------------------------------ solution

    def solve(self, theta, REML=True):
        """Everything at theta: beta, the spherical u, b = Lambda u, sigma, vcov(beta), R_X."""
        T1, L1, R = self.factorize(theta)
        R = np.tril(R)
        qr, p = self.q_rest, self.p
        upper = R[:-1, :-1].T
        v = la.solve_triangular(upper, R[-1, :-1], lower=False)  # [u_rest; beta - beta_ls]
        u_rest, beta = v[:qr], v[qr:] + self.beta_ls
        thetas = self.design.split_theta(np.asarray(theta, dtype=float))
        b_rest = lambda_matrix(self.rest, thetas[1:]) @ u_rest if qr else np.zeros(0)
        Z1 = self.Z[:, : self.first.q]
        resid_1 = self.y - self.X @ beta - self.Z[:, self.first.q:] @ b_rest
        if self.weights is not None:
            resid_1 = self.weights * resid_1
        rhs = (Z1.T @ resid_1).reshape(-1, self.first.p) @ T1  # rows: (T1' Z1j' r)'
        u1 = np.linalg.solve(L1.transpose(0, 2, 1), np.linalg.solve(L1, rhs[:, :, None]))[:, :, 0]
        b1 = u1 @ T1.T
        r2 = R[-1, -1] ** 2
        sigma = np.sqrt(r2 / (self.n - p if REML else self.n))
        RX = R[qr: qr + p, qr: qr + p]
        return dict(beta=beta, u=np.r_[u1.ravel(), u_rest], b=np.r_[b1.ravel(), b_rest],
                    sigma=sigma, vcov=sigma**2 * self._unscaled_vcov(RX), RX=RX)

    def unscaled_vcov(self, theta):
        """``(R_X' R_X)^-1`` at theta: the covariance of beta-hat divided by sigma^2."""
        _, _, R = self.factorize(theta)
        q = self.q_rest
        return self._unscaled_vcov(np.tril(R[q: q + self.p, q: q + self.p]))

    @staticmethod
    def _unscaled_vcov(RX):
        RX_inv = la.lapack.dtrtri(RX, lower=1)[0] if len(RX) else RX  # R_X^-1 (a threaded trsm is slow)
        return RX_inv.T @ RX_inv

    def deviance(self, theta, sigma, REML=True):
        """The criterion at (theta, sigma), sigma not profiled out (lmerTest's ``devfun_vp``):

        REML: ``log|L|^2 + log|R_X|^2 + r^2 / sigma^2 + (n - p) log(2 pi sigma^2)``;
        ML:   ``log|L|^2 + r^2 / sigma^2 + n log(2 pi sigma^2)``  (minus ``log|W|`` with prior weights).
        """
        logdet_L, logdet_RX, r2 = self.pieces(theta)
        if REML:
            return (logdet_L + logdet_RX + r2 / sigma**2 + (self.n - self.p) * np.log(2 * np.pi * sigma**2)
                    - self.log_det_W)
        return logdet_L + r2 / sigma**2 + self.n * np.log(2 * np.pi * sigma**2) - self.log_det_W

    def conditional_variances(self, theta):
        """Diagonal blocks of ``Lambda (Lambda' Z' Z Lambda + I)^-1 Lambda'`` per level and term.

        Multiplied by sigma^2 these are lme4's conditional variances (``ranef(condVar=TRUE)``),
        given beta.  Returns one array (levels, p, p) per term, in term order.  With
        ``M = [[M11, M1r], [Mr1, Mrr]]`` and the Schur complement ``S_rr = R_rr R_rr'``:
        ``(M^-1)_rr = S_rr^-1`` and ``(M^-1)_11 = M11^-1 + M11^-1 M1r S_rr^-1 Mr1 M11^-1``.
        """
        T1, L1, R = self.factorize(theta)
        qr, p1 = self.q_rest, self.first.p
        M1_inv = np.linalg.inv(L1 @ L1.transpose(0, 2, 1))
        if not qr:
            return [T1 @ M1_inv @ T1.T]
        thetas = self.design.split_theta(np.asarray(theta, dtype=float))
        Lam_t = lambda_matrix(self.rest, thetas[1:]).T.toarray()
        R_rr = np.tril(R[:qr, :qr])
        B = self.WtZ1[:qr]
        B = (B.toarray() if sp.issparse(B) else B).reshape(qr, -1, p1)
        coupling = np.einsum("mlp,pq,lqr->mlr", B, T1, M1_inv).reshape(qr, -1)  # Z_r'Z1 T1 M11^-1
        E = la.solve_triangular(R_rr, Lam_t @ coupling, lower=True, check_finite=False).reshape(qr, -1, p1)
        out = [T1 @ (M1_inv + np.einsum("mli,mlj->lij", E, E)) @ T1.T]
        F = la.solve_triangular(R_rr, Lam_t, lower=True, check_finite=False)  # (F'F = Lam S_rr^-1 Lam')
        start = 0
        for term in self.rest:
            columns = F[:, start: start + term.q].reshape(qr, term.n_levels, term.p)
            out.append(np.einsum("mli,mlj->lij", columns, columns))
            start += term.q
        return out


class SandwichMap:
    """``B G B'`` for a sparse B and block-diagonal G, as one sparse matrix-vector product.

    Entry (i, k) of ``B G B'`` is ``sum_l sum_ab B[i, lp+a] G[l, a, b] B[k, lp+b]``: linear in
    the entries of G with coefficients fixed by B.  Precomputing those coefficients (for the
    lower triangle) turns each evaluation into one product ``P @ G.ravel()``.
    """

    def __init__(self, B, p):
        B = B.tocsc()
        B.sort_indices()
        B = B.tocoo()  # entries ordered by column, so by level, and by row within a column
        m = B.shape[0]
        row, col, val = B.row, B.col, B.data
        level = col // p
        counts = np.bincount(level, minlength=B.shape[1] // p)
        starts = np.cumsum(counts) - counts
        if p == 1:  # one column per level: an entry pairs with those of its level up to itself (row[k] <= row[i])
            partners = np.arange(len(row)) - starts[level] + 1
        else:
            partners = counts[level]  # every entry pairs with each entry of its own level
        i = np.repeat(np.arange(len(row)), partners)
        k = starts[level[i]] + np.arange(len(i)) - np.repeat(np.cumsum(partners) - partners, partners)
        if p > 1:
            keep = row[i] >= row[k]
            i, k = i[keep], k[keep]
        flat = row[i].astype(np.int64) * m + row[k]
        g_index = level[i].astype(np.int64) * p * p + (col[i] % p) * p + col[k] % p
        present = np.zeros(m * m, dtype=bool)
        present[flat] = True
        self.lower = np.flatnonzero(present)
        compact = (np.cumsum(present) - 1)[flat]
        self.P = sp.csr_matrix((val[i] * val[k], (compact, g_index)), shape=(len(self.lower), B.shape[1] * p))
        self.m = m

    def __call__(self, G):
        """The lower triangle of ``B G B'`` (the upper triangle is left zero)."""
        K = np.zeros(self.m * self.m)
        K[self.lower] = self.P @ G.ravel()
        return K.reshape(self.m, self.m)


class LinearMixedModel(MixedModel):
    """A linear mixed model: lme4's ``lmerMod``.  Create a fitted one with :func:`lmer`;
    ``LinearMixedModel(design, REML)`` builds the model (cheap) and :meth:`fit` fits it."""

    family = "gaussian"
    is_linear = True               # capabilities (mixedlite.model): a closed-form criterion, model.pls,
    has_residual_variance = True   # and a residual variance sigma^2

    def __init__(self, design, REML=True, pls=None):
        """The model of ``design``, not yet fitted (:meth:`fit`): its cross-products ``pls``."""
        self.design, self.REML = design, bool(REML) and design.X.shape[1] > 0  # p = 0: REML is ML, as lme4
        self.pls = pls if pls is not None else PenalizedLeastSquares(design, _numeric_response(design))
        self._Z = self.pls.Z

    def fit(self, optimizer="bobyqa", maxeval=100_000, start=None, check_convergence=True, step_fraction=None):
        """Minimise the criterion over theta (:func:`mixedlite.fitting.fit_theta`); returns the model.

        Policies (see :mod:`mixedlite.fitting`): lme4's edge restart after every run, fresh runs while
        the gradient check fails or after a breakdown, and the Newton polish where the checks take
        derivatives.  ``step_fraction``: first steps of this fraction of each (standard) theta element,
        at least a tenth of it; by default NLopt's.

        The optimiser works on the standard theta of every term (:meth:`RandomEffectsTerm.standard_theta`):
        lme4's theta itself, unless the term's model rows are badly scaled.  On lme4's theta a random
        slope on a predictor in the thousands has elements a thousand times smaller than the intercept's,
        nearly collinear with it, and BOBYQA's spherical steps crawl or stop short.  The criterion is the
        same function of ``T T'`` either way.
        """
        lower = self.design.theta_lower
        start = self._theta_from_standard(self.design.theta_start) if start is None else np.asarray(start, dtype=float)
        derivatives = check_convergence and self.nobs <= MAX_NOBS_FOR_DERIVATIVES
        criterion = Criterion(self.criterion, lower, optimizer, maxeval, to_search=self._standard_theta,
                              from_search=self._theta_from_standard, ftol_abs=FTOL_ABS)
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
        solution = self.pls.solve(self._theta, self.REML)
        self.beta, self.b, self.u = solution["beta"], solution["b"], solution["u"]
        self.sigma, self._vcov, self.RX = solution["sigma"], solution["vcov"], solution["RX"]

    @property
    def _cond_var(self):
        """Conditional covariances of the random effects, computed when first asked for."""
        return self._at_theta("cond_var", lambda m: [m.sigma**2 * v for v in m.pls.conditional_variances(m._theta)])

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
        return model.fit(start=self._theta, check_convergence=check_convergence, step_fraction=0.2)

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
