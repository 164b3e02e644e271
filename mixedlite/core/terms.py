"""A random-effects term ``(lhs | group)`` and its relative covariance factor.

For a term with ``p`` effects per level (``(1 + Days | Subject)``: p = 2) and ``L``
levels, the random effects are ``b = Lambda u`` with spherical ``u ~ N(0, sigma^2 I)``.
Lambda is block diagonal, one copy of the lower-triangular ``p x p`` factor ``T(theta)``
per level, so the covariance of one level's effects is ``sigma^2 T T'``.
``theta`` fills ``T`` column by column (lme4's ``getME(m, "theta")``); its diagonal
entries are bounded below by zero, the others are free.  That layout is written once, in
:attr:`RandomEffectsTerm.theta_positions`; everything that reads theta element by element (bounds,
names, the sd/cor scale of profiles and summaries, Kenward-Roger's covariance parameters) goes through it.
"""
from functools import cached_property

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .formula import grouping_factor, model_matrix

BAD_SCALE = 1e3  # model rows whose scale (the singular values of A) leaves [1 / BAD_SCALE, BAD_SCALE] are standardized
NEGLIGIBLE_STANDARD = 1e-10  # a standard theta element this small (an SD relative to sigma) is zero


class RandomEffectsTerm:
    """One term: grouping codes, per-observation model rows and ``T(theta)``."""

    def __init__(self, term, data, state=None):
        factor = grouping_factor(term.group, data)
        rows = model_matrix(term.lhs, data, state=state)
        if rows.shape[1] == 0:
            raise ValueError(f"the random term {term} has no effects: write (1 | {term.group}) for an intercept")
        self.group, self.lhs = term.group, term.lhs
        self.levels = [str(level) for level in factor.cat.categories]
        # pandas stores codes as int8/int16 for small factors: widen before any arithmetic (codes * p overflows)
        self.codes = factor.cat.codes.to_numpy().astype(np.intp)
        self.names = list(rows.columns)
        self.rows = rows.to_numpy()
        self._lower = tuple(np.array(self.theta_positions).T)  # theta's positions in T, as index arrays

    @property
    def p(self):
        """Number of effects per level."""
        return len(self.names)

    @property
    def n_levels(self):
        return len(self.levels)

    @property
    def q(self):
        """Number of random effects in the term: p per level."""
        return self.p * self.n_levels

    @property
    def n_theta(self):
        return self.p * (self.p + 1) // 2

    @cached_property
    def theta_positions(self):
        """``(row, column)`` in T of each theta element: the lower triangle, column by column (lme4's order)."""
        return [(i, j) for j in range(self.p) for i in range(j, self.p)]

    @property
    def theta_lower(self):
        """Lower bounds: 0 for diagonal elements (standard deviations), -inf off the diagonal."""
        return np.array([0.0 if i == j else -np.inf for i, j in self.theta_positions])

    @property
    def theta_start(self):
        """lme4's starting value: T = identity (lmer's random intercepts on distinct factors start from a moment
        estimate instead, :func:`mixedlite.core.lmm.intercepts_start`)."""
        return np.array([1.0 if i == j else 0.0 for i, j in self.theta_positions])

    @cached_property
    def standardizer(self):
        """``A``: upper triangular with ``A'A = rows'rows / n`` (rows: the term's model rows, n x p), for
        model rows on a bad scale; None otherwise.

        ``rows A^-1`` has orthogonal columns of unit root mean square: the term's effects on a
        standard scale.  A covariance ``sigma^2 T T'`` of the effects is ``sigma^2 S S'`` on that
        scale, with ``S S' = A T T' A'`` (:meth:`standard_theta`).  The scale is bad when a singular
        value of A is beyond ``BAD_SCALE`` or below its inverse (lme4's limit for predictors "on very
        different scales"): a predictor in the thousands, or one nearly collinear with the intercept
        (x = 1000 + U(0, 20)).  Model rows that are not of full column rank are left as they are.
        """
        rows = np.asarray(self.rows, dtype=float)
        A = np.linalg.qr(rows / np.sqrt(len(rows)), mode="r")
        A *= np.where(np.diag(A) < 0, -1.0, 1.0)[:, None]
        singular_values = np.linalg.svd(A, compute_uv=False)
        bad = singular_values.max() > BAD_SCALE or singular_values.min() < 1 / BAD_SCALE
        return A if bad and singular_values.min() > 0 else None

    def standard_theta(self, theta):
        """theta of the lower-triangular factor S of ``A T T' A'`` (the effects on a standard scale);
        theta itself for model rows on a good scale."""
        A = self.standardizer
        if A is None:
            return np.asarray(theta, dtype=float)
        standard = _lower_factor(A @ self.relative_factor(theta))[self._lower]
        # the products leave rounding (~1e-17) where theta's factor has a zero; NLopt would take such an
        # element's size for its first step (and its scale), freezing it
        standard[np.abs(standard) < NEGLIGIBLE_STANDARD] = 0.0
        return standard

    def theta_from_standard(self, standard):
        """The inverse of :meth:`standard_theta`: T with ``T T' = A^-1 S S' A^-T``."""
        A = self.standardizer
        if A is None:
            return np.asarray(standard, dtype=float)
        return _lower_factor(la.solve_triangular(A, self.relative_factor(standard)))[self._lower]

    @property
    def theta_names(self):
        """lme4's names: ``Subject.(Intercept)``, ``Subject.Days.(Intercept)``, ``Subject.Days``."""
        return [f"{self.group}.{self.names[i]}" if i == j else f"{self.group}.{self.names[i]}.{self.names[j]}"
                for i, j in self.theta_positions]

    @property
    def sdcor_names(self):
        """lme4's ``oldNames = FALSE`` names on the sd/cor scale: ``sd_Days|Subject``,
        ``cor_Days.(Intercept)|Subject``."""
        return [f"sd_{self.names[i]}|{self.group}" if i == j else f"cor_{self.names[i]}.{self.names[j]}|{self.group}"
                for i, j in self.theta_positions]

    @property
    def sdcor_bounds(self):
        """Bounds on the sd/cor scale, in theta's order: sd in [0, inf), correlations in [-1, 1]."""
        lower = np.array([0.0 if i == j else -1.0 for i, j in self.theta_positions])
        upper = np.array([np.inf if i == j else 1.0 for i, j in self.theta_positions])
        return lower, upper

    def sdcor(self, theta, sigma):
        """The standard deviations and correlations of ``sigma^2 T T'`` in theta's order: ``sd_i`` where
        theta holds a diagonal element of T, ``cor_ij`` (0 where an sd is 0) where it holds ``T_ij``."""
        T = self.relative_factor(theta)
        cov = sigma**2 * T @ T.T
        sd = np.sqrt(np.diag(cov))
        return np.array([sd[i] if i == j else cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else 0.0
                         for i, j in self.theta_positions])

    def theta_from_sdcor(self, values, sigma):
        """The inverse of :meth:`sdcor` (lme4's ``Sv_to_Cv``): ``T = diag(sd / sigma) chol(cor)``."""
        sd, C = np.zeros(self.p), np.eye(self.p)
        for (i, j), value in zip(self.theta_positions, values):
            if i == j:
                sd[i] = value
            else:
                C[i, j] = C[j, i] = value
        return ((sd / sigma)[:, None] * _cholesky_psd(C))[self._lower]

    def relative_factor(self, theta):
        """The relative covariance factor ``T``: lower triangular, filled from ``theta``."""
        T = np.zeros((self.p, self.p))
        T[self._lower] = theta
        return T

    def Z(self):
        """The sparse model matrix of the term: column ``level * p + j`` holds effect j of a level."""
        n = len(self.codes)
        columns = self.codes[:, None] * self.p + np.arange(self.p)[None, :]
        return sp.csc_matrix((self.rows.ravel(), (np.repeat(np.arange(n), self.p), columns.ravel())),
                             shape=(n, self.q))


def _cholesky_psd(C):
    """Lower Cholesky factor of a correlation matrix, tolerating singular (|cor| = 1) matrices."""
    p = C.shape[0]
    L = np.zeros_like(C)
    for j in range(p):
        d = C[j, j] - L[j, :j] @ L[j, :j]
        L[j, j] = np.sqrt(max(d, 0.0))
        for i in range(j + 1, p):
            L[i, j] = (C[i, j] - L[i, :j] @ L[j, :j]) / L[j, j] if L[j, j] > 0 else 0.0
    return L


def _lower_factor(M):
    """The lower-triangular L with non-negative diagonal and ``L L' = M M'`` (from the QR of M')."""
    L = np.linalg.qr(M.T, mode="r").T
    return L * np.where(np.diag(L) < 0, -1.0, 1.0)[None, :]


def lme4_term_order(terms):
    """The terms in lme4's order (``mkReTrms``): as written, unless some term has more levels than one
    before it; then ``rev(order(nl))``, by decreasing number of levels with ties in reverse formula order.

    The order fixes theta's layout and the names ``g``, ``g.1`` of terms that share a grouping factor.
    """
    levels = [t.n_levels for t in terms]
    if not any(b > a for a, b in zip(levels, levels[1:])):
        return list(terms)
    ascending = sorted(range(len(terms)), key=lambda k: levels[k])  # stable, as R's order()
    return [terms[k] for k in reversed(ascending)]


def lambda_matrix(terms, thetas):
    """``Lambda(theta)`` of several terms: block diagonal, one copy of each term's T per level (sparse)."""
    return sp.block_diag([sp.kron(sp.identity(t.n_levels), t.relative_factor(th)) for t, th in zip(terms, thetas)],
                         format="csr")
