"""Penalized least squares: the linear algebra that lmer and glmer share.

For theta, with ``Lambda = Lambda(theta)`` and observation weights W (lmer: the prior weights;
glmer: PIRLS's working weights, new at every step), beta and the spherical random effects u solve

    [Lambda' Z' W Z Lambda + I   Lambda' Z' W X] [u   ]   [Lambda' Z' W y]
    [X' W Z Lambda               X' W X        ] [beta] = [X' W y        ]

and minimise the penalized weighted residual sum of squares
``r^2 = |W^1/2 (y - X beta - Z Lambda u)|^2 + |u|^2``.  With the Cholesky factor L of
``Lambda' Z' W Z Lambda + I`` and R_X of the fixed-effects part, lmer's profiled criteria need
``log|L|^2``, ``log|R_X|^2`` and ``r^2``; glmer's Laplace approximation needs ``log|L|^2`` (y is then
PIRLS's working response).  lme4 keeps this in ``merPredD`` (``updateXwts``, ``updateDecomp``,
``solve``); MixedModels.jl in the blocked lower-triangular L of ``BlockedSparse`` and ``updateL!``,
its GLMM reweighting the LMM's cross-products (``reweight!``).  So does this module:

1. :meth:`PenalizedLeastSquares.reweight` forms the weighted cross-products of the model matrices
   for the weights W and the response y (:class:`CrossProducts`): lmer once, PIRLS at every step.
2. :meth:`PenalizedLeastSquares.factorize` factors the system at theta from them, blockwise as
   MixedModels.jl does.  The term with most levels comes first; its block
   ``M1 = T1' (Z1j' W Z1j) T1 + I`` is block diagonal (one p1 x p1 block ``L1 L1'`` per level) and is
   factored level by level.  The other terms, X and y form one small dense Schur complement
   ``S = Lambda_V' (V'WV - V'WZ1 G Z1'WV) Lambda_V + diag(I, 0)``, with ``V = [Z_rest, X, y]`` and
   ``G = T1 M1^-1 T1'`` per level, whose Cholesky factor R holds the other terms' part of L, R_X
   and, in its last row, the solution: its last diagonal element is r.
   So ``log|L|^2 = sum log|L1|^2 + log|R_rr|^2`` (:func:`log_det_L`).
3. :meth:`PenalizedLeastSquares.solve` reads ``u_rest`` and beta off R's last row and the leading
   term's u by back-substitution; :meth:`PenalizedLeastSquares.conditional_variances` gives
   ``Lambda M^-1 Lambda'`` per level.

:class:`ProfiledLeastSquares` is lmer's use of it: the prior weights and y fixed, so the cross-products
are formed once, and the profiled criterion as a function of theta.  PIRLS (:mod:`mixedlite.core.pirls`)
reweights at every step.

Notation: ``T1`` is the leading term's relative covariance factor T(theta) (``Lambda1`` = T1 per
level), ``Lr`` the Lambda of the other terms, ``L1`` the per-level Cholesky factors of M1, ``R`` the
Cholesky factor of the Schur complement S, ``m`` its order (q_rest, plus p with X, plus 1 for y).
"""
import copy
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .design import prior_weights
from .terms import lambda_matrix

DENSE_LIMIT = 2_000_000  # V'WZ1 is kept dense below this many entries, else its sandwich is a SandwichMap


def rest_lambda(rest, thetas):
    """Lambda of the non-leading terms: its diagonal (a vector) when all are scalar, else sparse."""
    if all(t.p == 1 for t in rest):
        return np.concatenate([np.repeat(th, t.n_levels) for t, th in zip(rest, thetas)]) if rest else np.zeros(0)
    return lambda_matrix(rest, thetas)


def log_det_L(L1, R, q_rest):
    """``log|L|^2 = sum_j log|L1_j|^2 + log|R_rr|^2``: the first ``q_rest`` rows of R are the other terms'."""
    return (2 * np.log(np.diagonal(L1, axis1=1, axis2=2)).sum()
            + 2 * np.log(np.diag(R)[:q_rest]).sum())


def conditional_variances(T1, L1, E, R_rr, Lr, rest):
    """Diagonal blocks of ``Lambda M^-1 Lambda'`` per level and term, ``M = Lambda' Z' W Z Lambda + I``.

    Multiplied by sigma^2 (lmer) these are lme4's conditional variances (``ranef(condVar=TRUE)``),
    given beta; one array (levels, p, p) per term, in term order.  With ``M = [[M11, M1r], [Mr1, Mrr]]``,
    ``E_j = L1_j^-1 M1r_j`` for level j of the leading term and ``S = Mrr - E'E = R_rr R_rr'``:
    ``(M^-1)_11 = L1^-T (I + E S^-1 E') L1^-1`` and ``(M^-1)_rr = S^-1``.
    ``E``: (levels, p1, q_rest); ``R_rr``: lower triangular; ``Lr``: as :func:`rest_lambda`.
    """
    L1_inv = np.linalg.inv(L1)
    M1_inv = L1_inv.transpose(0, 2, 1) @ L1_inv
    qr = len(R_rr)
    if qr:
        R_inv = la.solve_triangular(R_rr, np.eye(qr), lower=True, check_finite=False)
        F = np.einsum("mk,lpk->lpm", R_inv, E)                 # R^-1 E_l'
        inner = np.eye(L1.shape[1]) + np.einsum("lpm,lqm->lpq", F, F)
        M1_inv = L1_inv.transpose(0, 2, 1) @ inner @ L1_inv
    out = [T1 @ M1_inv @ T1.T]
    if not qr:
        return out
    Lr_t = np.diag(Lr) if isinstance(Lr, np.ndarray) else Lr.T.toarray()
    G = R_inv @ Lr_t                                              # (G'G = Lr S^-1 Lr')
    start = 0
    for term in rest:
        columns = G[:, start: start + term.q].reshape(qr, term.n_levels, term.p)
        out.append(np.einsum("mli,mlj->lij", columns, columns))
        start += term.q
    return out


def unscaled_vcov(RX):
    """``(R_X' R_X)^-1``, beta's covariance divided by sigma^2 (lme4's ``unsc()``), from the lower-triangular
    R_X: the beta block of ``S^-1`` when ``S = R R'`` and R_X is R's diagonal block of X."""
    RX_inv = la.lapack.dtrtri(RX, lower=1)[0] if len(RX) else RX  # R_X^-1 (a threaded trsm is slow)
    return RX_inv.T @ RX_inv


class Lambdas(NamedTuple):
    """What depends on theta alone: formed once per lmer evaluation or PIRLS run.

    Immutable, as the frozen dataclasses; a named tuple because it is built on the hot path (a tuple's cost)."""
    T1: np.ndarray
    """T(theta) of the leading term (p1 x p1)"""
    Lr: object
    """Lambda of the other terms (:func:`rest_lambda`)"""


class CrossProducts(NamedTuple):
    """The weighted cross-products of :meth:`PenalizedLeastSquares.reweight`, ``V = [Z_rest, X, y]`` (X only
    ``with_X``), W the diagonal of weights; a named tuple (PIRLS builds one at every step)."""
    C1: np.ndarray
    """``Z1j' W Z1j`` for every level j of the leading term (levels, p1, p1)"""
    B: object
    """``V' W Z1`` (m, q1): dense, or sparse when larger than ``DENSE_LIMIT``"""
    A: np.ndarray
    """``V' W V`` (m, m)"""
    sandwich: object
    """the :class:`SandwichMap` of a sparse B, else None"""


class Factorization(NamedTuple):
    """The blockwise Cholesky factorisation of :meth:`PenalizedLeastSquares.factorize` at theta."""
    lam: Lambdas
    """Lambda at theta"""
    products: CrossProducts
    """the cross-products it was formed from"""
    L1: np.ndarray
    """the leading term's per-level Cholesky factors, ``L1_j L1_j' = T1' Z1j' W Z1j T1 + I`` (levels, p1, p1)"""
    R: np.ndarray
    """the Cholesky factor of the Schur complement of ``[Z_rest, X, y]`` (lower; its upper triangle is not
    cleared): its last row holds ``[u_rest; beta]``'s right-hand side, its last diagonal element r"""


class PenalizedLeastSquares:
    """The penalized weighted least squares of a list of random-effects terms and X (see the module docstring).

    :meth:`reweight` forms the cross-products for weights and a response, :meth:`factorize` factors them at
    theta (its :meth:`lambdas`), :meth:`solve` gives u and beta.  Every observation's row of Z has the same
    pattern (p entries for each term), so the weighted cross-products are sums over observations of
    ``w_i z_ia z_ib``, computed for all pairs (a, b) at once with one ``np.bincount`` each.
    """

    def __init__(self, terms, X):
        self.X = X
        self.n, self.p = X.shape
        self.first, self.rest = terms[0], terms[1:]
        self.q1, self.p1 = self.first.q, self.first.p
        self.qr = sum(t.q for t in self.rest)
        self.Zr = (sp.hstack([t.Z() for t in self.rest], format="csr") if self.rest
                   else sp.csr_matrix((self.n, 0)))
        self.ZrT = self.Zr.T.tocsr()                              # formed once: PIRLS multiplies by it twice a step
        self.codes1 = self.first.codes
        self.idx1 = self.codes1[:, None] * self.p1 + np.arange(self.p1)    # (n, p1) columns of Z1
        self._scalar_rest = all(t.p == 1 for t in self.rest)
        self._bin_cache = {}
        if self.rest:
            self._index_products()

    def _index_products(self):
        """Where each observation's products land in ``Z_r' W Z_r`` and ``Z_r' W Z_1``."""
        first, n = self.first, self.n
        idx, val, start = [], [], 0
        for t in self.rest:
            idx.append(start + t.codes[:, None] * t.p + np.arange(t.p))
            val.append(t.rows)
            start += t.q
        idx_r, val_r = np.hstack(idx), np.hstack(val)                      # (n, K) columns of Z_r
        self._rr_index = (idx_r[:, :, None] * self.qr + idx_r[:, None, :]).ravel()
        self._rr_value = (val_r[:, :, None] * val_r[:, None, :]).reshape(n, -1)
        # Z_r' W Z_1 is sparse (an observation couples one level of the first term with K columns of Z_r):
        # only its nonzero blocks, (column of Z_r, level of the first term) with p1 entries each, are summed
        blocks, position = np.unique(idx_r * first.n_levels + self.codes1[:, None], return_inverse=True)
        self._r1_rows, self._r1_levels = np.divmod(blocks, first.n_levels)
        self._r1_index = (position.reshape(n, -1)[:, :, None] * first.p + np.arange(first.p)).ravel()
        self._r1_value = (val_r[:, :, None] * first.rows[:, None, :]).reshape(n, -1)

    # ------------------------------------------------------------ Lambda and the cross-products

    def lambdas(self, thetas):
        """:class:`Lambdas` from one theta per term."""
        return Lambdas(self.first.relative_factor(thetas[0]), rest_lambda(self.rest, thetas[1:]))

    def reweight(self, w, y, with_X=True):
        """:class:`CrossProducts` of ``[Z1, Z_rest, X, y]`` for the weights w (X's columns only ``with_X``).

        ``C1``: per level of the leading term; ``B = V'WZ1``; ``A = V'WV``, ``V = [Z_rest, X, y]``."""
        first, p1, levels, qr = self.first, self.p1, self.first.n_levels, self.qr
        rows1, codes1 = first.rows, self.codes1
        V = np.column_stack([self.X, y]) if with_X else np.asarray(y, dtype=float)[:, None]
        wV = w[:, None] * V
        k = V.shape[1]
        m = qr + k
        B = np.zeros((m, levels, p1))
        A = np.empty((m, m))
        if self.rest:
            B[self._r1_rows, self._r1_levels] = np.bincount(
                self._r1_index, (w[:, None] * self._r1_value).ravel(), len(self._r1_rows) * p1).reshape(-1, p1)
            A[:qr, :qr] = np.bincount(self._rr_index, (w[:, None] * self._rr_value).ravel(), qr * qr).reshape(qr, qr)
            A[:qr, qr:] = self.ZrT @ wV
            A[qr:, :qr] = A[:qr, qr:].T
        C1 = np.empty((levels, p1, p1))
        bins = self._bins(k)  # one bincount per column of Z1 for all of [X, y]: bin (column j, level)
        for a in range(p1):
            for c in range(a + 1):
                C1[:, a, c] = C1[:, c, a] = np.bincount(codes1, w * rows1[:, a] * rows1[:, c], levels)
            B[qr:, :, a] = np.bincount(bins, (wV * rows1[:, a, None]).T.ravel(), k * levels).reshape(k, levels)
        A[qr:, qr:] = V.T @ wV
        B = B.reshape(m, -1)
        sandwich = None
        if B.size > DENSE_LIMIT:
            B = sp.csc_matrix(B)
            sandwich = SandwichMap(B, p1, A)
        return CrossProducts(C1, B, A, sandwich)

    def _bins(self, k):
        """Bins ``j * levels + code`` of the leading term's levels for k columns, observations in order."""
        if k not in self._bin_cache:
            levels = self.first.n_levels
            self._bin_cache[k] = (np.arange(k)[:, None] * levels + self.codes1[None, :]).ravel()
        return self._bin_cache[k]

    # ------------------------------------------------------------ the factorisation

    def factorize(self, lam, products, zero_residual=False):
        """Factor the system at Lambda ``lam`` (:meth:`lambdas`) from its cross-products: a :class:`Factorization`.

        ``L1[j] L1[j]' = T1' C1_j T1 + I`` and ``R R' = S``.  ``zero_residual``: a working response that the
        model fits exactly (r^2 rounds to zero or below) is a factorisation with r = 0, not an error.
        """
        T1, C = lam.T1, products
        if self.p1 == 1:  # scalars per level: the same operations without the per-level matrix calls
            t = T1[0, 0]
            M1 = C.C1 * (t * t) + 1.0
            L1 = np.sqrt(M1)
            H = t / L1                                            # T1 L1^-T per level
        else:
            M1 = T1.T @ C.C1 @ T1 + np.eye(self.p1)
            L1 = np.linalg.cholesky(M1)
            H = T1 @ np.linalg.inv(L1).transpose(0, 2, 1)
        m, qr = len(C.A), self.qr
        if C.sandwich is not None and self._scalar_rest:  # S's nonzeros alone, in LAPACK's layout
            penalty = np.zeros(m)
            penalty[:qr] = 1.0
            S = C.sandwich.schur(H @ H.transpose(0, 2, 1), self._scaling(lam.Lr, m), penalty)
        else:
            K = self._sandwich(C, H)
            S = np.subtract(C.A, K, out=K)
            if qr:
                S = self._scale(lam.Lr, S)
                S.flat[: qr * (m + 1): m + 1] += 1.0             # the penalty: I for the other terms' u
        R, info = la.lapack.dpotrf(S, lower=1, clean=0, overwrite_a=not zero_residual)
        if info == m and zero_residual:                     # only y's pivot failed: the fit is exact
            R, info = la.lapack.dpotrf(S[:-1, :-1], lower=1, clean=0)
            if info == 0:
                last = la.solve_triangular(R, S[-1, :-1], lower=True, check_finite=False)
                R = np.block([[R, np.zeros((m - 1, 1))], [last[None, :], np.zeros((1, 1))]])
        if info != 0:
            raise np.linalg.LinAlgError("the penalized cross-product matrix is not positive definite")
        return Factorization(lam, products, L1, R)

    def _sandwich(self, products, H):
        """``V'WZ1 G Z1'WV`` for the block-diagonal ``G = T1 M1^-1 T1' = H H'`` given by H as (levels, p, p): the
        product ``F F'`` of ``F = V'WZ1 H`` (BLAS's symmetric rank-k update), or the :class:`SandwichMap`'s
        lower triangle."""
        if products.sandwich is not None:
            return products.sandwich(H @ H.transpose(0, 2, 1))
        B = products.B
        if self.p1 == 1:
            F = B * H.ravel()
        else:
            F = np.einsum("mlp,lpq->mlq", B.reshape(B.shape[0], -1, self.p1), H).reshape(B.shape)
        return F @ F.T

    def _scale(self, Lr, A):
        """``Lambda_V' A Lambda_V`` for the symmetric A given by its lower triangle (Lambda_V: Lr, then ones
        for X and y).  A row and column scaling when all terms are scalar; a sparse product otherwise."""
        if self._scalar_rest:
            s = self._scaling(Lr, len(A))
            A *= s[:, None]
            A *= s[None, :]
            return A
        A = np.tril(A)
        A += np.tril(A, -1).T
        Lam = sp.block_diag([Lr, sp.identity(len(A) - self.qr)], format="csr")
        return Lam.T @ (Lam.T @ A).T

    def _scaling(self, Lr, m):
        """The diagonal of ``Lambda_V`` when all other terms are scalar: theta per level, then ones (X, y)."""
        scaling = np.ones(m)
        scaling[:self.qr] = Lr
        return scaling

    def log_det(self, f):
        """``log|L|^2`` of the random-effects rows (the rows of X and y in R are not part of it)."""
        return log_det_L(f.L1, f.R, self.qr)

    # ------------------------------------------------------------ the solution

    def solve(self, f):
        """``(u, beta)``: R's last row gives ``[u_rest; beta]``, then ``M1 u1 = T1' Z1' W (y - Z_r b_r - X beta)``
        level by level (beta is empty without X)."""
        R, qr, T1, Lr = f.R, self.qr, f.lam.T1, f.lam.Lr
        B = f.products.B
        rhs = B[-1] if f.products.sandwich is None else B[-1].toarray().ravel()  # Z1' W y (B sparse with a map)
        if len(R) > 1:
            v = la.lapack.dtrtrs(R[:-1, :-1], R[-1, :-1], lower=1, trans=1)[0]  # R_11' v = r_1: [u_rest; beta]
            u_rest, beta = v[:qr], v[qr:]
            b_rest = Lr * u_rest if isinstance(Lr, np.ndarray) else Lr @ u_rest
            rhs = rhs - B[:-1].T @ np.concatenate([b_rest, beta])          # Z1' W (y - Z_r b_r - X beta)
        else:
            u_rest = beta = np.zeros(0)
        L1 = f.L1
        if self.p1 == 1:                                                 # T1' Z1j' W r / M1_j
            u1 = rhs * T1[0, 0] / L1.ravel() ** 2
        else:
            rhs = rhs.reshape(-1, self.p1) @ T1                          # rows: (T1' Z1j' W r)'
            u1 = np.linalg.solve(L1.transpose(0, 2, 1), np.linalg.solve(L1, rhs[:, :, None]))[:, :, 0].ravel()
        return (np.concatenate([u1, u_rest]) if qr else u1), beta

    def linear_predictor(self, lam, u, fixed):
        """``eta = fixed + Z Lambda u``, ``fixed`` being ``offset + X beta``: ``b = Lambda u`` is the leading
        term's blocks of u times T1 and the others' times Lambda_r."""
        T1, Lr = lam.T1, lam.Lr
        u1, ur = u[: self.q1], u[self.q1:]
        if self.p1 == 1:
            eta = fixed + self.first.rows[:, 0] * (u1 * T1[0, 0])[self.codes1]
        else:
            b1 = (u1.reshape(-1, self.p1) @ T1.T).ravel()
            eta = fixed + np.sum(self.first.rows * b1[self.idx1], axis=1)
        if not self.rest:
            return eta
        return eta + self.Zr @ (Lr * ur if isinstance(Lr, np.ndarray) else Lr @ ur)

    def conditional_variances(self, f):
        """:func:`conditional_variances` of the factorisation (multiplied by sigma^2: lme4's ``condVar``)."""
        T1, L1, R, Lr = f.lam.T1, f.L1, f.R, f.lam.Lr
        qr, p1 = self.qr, self.p1
        if not qr:
            return conditional_variances(T1, L1, np.zeros((len(L1), p1, 0)), np.zeros((0, 0)), Lr, self.rest)
        B = f.products.B[:qr]
        B = ((B.toarray() if sp.issparse(B) else B).reshape(qr, -1, p1) @ T1).reshape(qr, -1)  # Z_r' W Z1 Lambda1
        B = (Lr[:, None] * B if isinstance(Lr, np.ndarray) else Lr.T @ B).reshape(qr, -1, p1)
        E = np.linalg.solve(L1, B.transpose(1, 2, 0))                                # (levels, p1, q_rest)
        return conditional_variances(T1, L1, E, np.tril(R[:qr, :qr]), Lr, self.rest)


@dataclass(frozen=True)
class Solution:
    """lmer's solution at theta (lme4's ``getME`` names)."""
    beta: np.ndarray
    """the fixed effects"""
    u: np.ndarray
    """the spherical random effects, ``b = Lambda u``"""
    b: np.ndarray
    """the random effects"""
    sigma: float
    """the residual standard deviation, ``sqrt(r^2 / (n - p))`` (REML) or ``sqrt(r^2 / n)`` (ML)"""
    vcov: np.ndarray
    """the covariance of beta-hat, ``sigma^2 (R_X' R_X)^-1``"""
    RX: np.ndarray
    """R_X, the Cholesky factor of the fixed effects' block (lower triangular)"""


class ProfiledLeastSquares(PenalizedLeastSquares):
    """lmer's penalized least squares: the prior weights and y are fixed, so the cross-products are formed once
    (:meth:`reweight`), and each theta costs a factorisation; the profiled criterion as a function of theta.

    y enters through its residual from the least-squares fit on X (the precision of r^2 depends on it).
    """

    def __init__(self, design, y):
        super().__init__(design.terms, design.X.to_numpy(dtype=float))
        self.design = design
        self.Z = sp.hstack([self.first.Z(), self.Zr], format="csc")
        self.y = np.asarray(y, dtype=float)
        self.weights = prior_weights(design)
        self.log_det_W = float(np.sum(np.log(self.weights))) if self.weights is not None else 0.0
        self._w = self.weights if self.weights is not None else np.ones(self.n)
        self.beta_ls, y_ls = self._least_squares_split(self.y)
        self.products = self.reweight(self._w, y_ls)

    def _least_squares_split(self, y):
        """``y = X beta_ls + e`` by (weighted) least squares: beta_ls and the residual e.

        The cross-products use e in place of y.  Both give the same r^2 (beta absorbs ``X beta_ls``),
        but r^2 is read off the Cholesky factor as ``y'y`` minus what the model explains: with y
        itself, yields near 1500 cancel three digits of r^2 (and of the criterion), with e none.
        """
        if not self.p:
            return np.zeros(0), y
        sqrtw = np.sqrt(self._w)
        beta_ls = np.linalg.lstsq(sqrtw[:, None] * self.X, sqrtw * y, rcond=None)[0]
        return beta_ls, y - self.X @ beta_ls

    def with_response(self, y):
        """A copy for a new response: the cross-products formed again (V'WZ1 and V'WV change in y's row)."""
        new = copy.copy(self)
        new.y = np.asarray(y, dtype=float)
        new.beta_ls, y_ls = self._least_squares_split(new.y)
        new.products = self.reweight(self._w, y_ls)
        return new

    def factorize_at(self, theta):
        """The :class:`Factorization` at theta."""
        return self.factorize(self.lambdas(self.design.split_theta(np.asarray(theta, dtype=float))), self.products)

    # ------------------------------------------------------------ criteria

    def pieces(self, theta):
        """log|L|^2, log|R_X|^2 and the penalized residual sum of squares r^2 at theta."""
        f = self.factorize_at(theta)
        logdet_RX = 2 * np.log(np.diagonal(f.R))[self.qr: self.qr + self.p].sum()
        return self.log_det(f), logdet_RX, np.diagonal(f.R)[-1] ** 2

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

    # ------------------------------------------------------------ solution

    def solve_at(self, theta, REML=True):
        """Everything at theta: beta, the spherical u, b = Lambda u, sigma, vcov(beta), R_X."""
        f = self.factorize_at(theta)
        u, beta_e = self.solve(f)
        qr, p, q1 = self.qr, self.p, self.q1
        T1, Lr = f.lam.T1, f.lam.Lr
        b1 = (u[:q1].reshape(-1, self.p1) @ T1.T).ravel()
        b_rest = Lr * u[q1:] if isinstance(Lr, np.ndarray) else Lr @ u[q1:]
        r2 = f.R[-1, -1] ** 2
        sigma = np.sqrt(r2 / (self.n - p if REML else self.n))
        RX = np.tril(f.R[qr: qr + p, qr: qr + p])
        return Solution(beta=beta_e + self.beta_ls, u=u, b=np.r_[b1, b_rest],
                        sigma=sigma, vcov=sigma**2 * unscaled_vcov(RX), RX=RX)

    def unscaled_vcov(self, theta):
        """``(R_X' R_X)^-1`` at theta: the covariance of beta-hat divided by sigma^2 (:func:`unscaled_vcov`)."""
        R, q = self.factorize_at(theta).R, self.qr
        return unscaled_vcov(np.tril(R[q: q + self.p, q: q + self.p]))

    def conditional_variances_at(self, theta):
        """:meth:`conditional_variances` at theta (lme4's ``condVar`` divided by sigma^2)."""
        return self.conditional_variances(self.factorize_at(theta))


class SandwichMap:
    """``B G B'`` for a sparse B and block-diagonal G, as one sparse matrix-vector product.

    Entry (i, k) of ``B G B'`` is ``sum_l sum_ab B[i, lp+a] G[l, a, b] B[k, lp+b]``: linear in
    the entries of G with coefficients fixed by B.  Precomputing those coefficients (for the
    lower triangle) turns each evaluation into one product ``P @ G.ravel()``.

    Given the symmetric ``C`` (``V'WV``), :meth:`schur` forms ``D (C - B G B') D + diag(d)``
    (D diagonal) on the entries of the lower triangle where C or ``B G B'`` can be nonzero (InstEval:
    22%), straight into LAPACK's column-major layout: no pass over the whole matrix but its zeroing.
    """

    def __init__(self, B, p, C=None):
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
        present = np.zeros(m * m, dtype=bool)
        present[flat] = True
        if C is not None:  # C's own nonzeros and the diagonal (the penalty) too
            present[np.flatnonzero(np.tril(C))] = True
            present[np.arange(m) * (m + 1)] = True
        self.lower = np.flatnonzero(present)
        compact = (np.cumsum(present) - 1)[flat]
        shape = (len(self.lower), B.shape[1] * p)
        if p == 1:  # the pairs come level by level, so column by column of P: no sort
            self.P = sp.csc_matrix((val[i] * val[k], compact, np.r_[0, np.cumsum(counts * (counts + 1) // 2)]), shape)
        else:
            g_index = level[i].astype(np.int64) * p * p + (col[i] % p) * p + col[k] % p
            self.P = sp.csr_matrix((val[i] * val[k], (compact, g_index)), shape)
        self.m = m
        if C is not None:
            self._rows, self._columns = np.divmod(self.lower, m)
            self._C = np.ascontiguousarray(C).ravel()[self.lower]
            self._column_major = self._columns * m + self._rows
            self._diagonal = np.flatnonzero(self._rows == self._columns)  # in order: entries (0, 0), (1, 1), ...

    def __call__(self, G):
        """The lower triangle of ``B G B'`` (the upper triangle is left zero)."""
        K = np.zeros(self.m * self.m)
        K[self.lower] = self.P @ G.ravel()
        return K.reshape(self.m, self.m)

    def schur(self, G, scale, diagonal):
        """The lower triangle of ``D (C - B G B') D + diag(diagonal)``, ``D = diag(scale)``, in column-major
        order (the upper triangle is zero): entry by entry the operations of forming ``C - B G B'``, then
        scaling its rows, then its columns, then adding the diagonal."""
        v = self._C - self.P @ G.ravel()
        v *= scale[self._rows]
        v *= scale[self._columns]
        v[self._diagonal] += diagonal
        S = np.zeros(self.m * self.m)
        S[self._column_major] = v
        return S.reshape((self.m, self.m), order="F")
