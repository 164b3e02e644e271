"""Penalized least squares: the linear algebra that lmer and glmer share.

For theta, with ``Lambda = Lambda(theta)`` and observation weights W (lmer: the prior weights;
glmer: PIRLS's working weights, new at every step), beta and the spherical random effects u solve

    [Lambda' Z' W Z Lambda + I   Lambda' Z' W X] [u   ]   [Lambda' Z' W y]
    [X' W Z Lambda               X' W X        ] [beta] = [X' W y        ]

and minimise the penalized weighted residual sum of squares
``r^2 = |W^1/2 (y - X beta - Z Lambda u)|^2 + |u|^2``.  With the Cholesky factor L of
``Lambda' Z' W Z Lambda + I`` and R_X of the fixed-effects part, lmer's profiled criteria need
``log|L|^2``, ``log|R_X|^2`` and ``r^2``; glmer's Laplace approximation needs ``log|L|^2``.
lme4 keeps this in ``merPredD`` (``updateXwts``, ``updateDecomp``, ``solve``); MixedModels.jl
in the blocked lower-triangular L of ``BlockedSparse`` and ``updateL!``.

Both classes here factor blockwise, as MixedModels.jl does.  The term with most levels comes first;
its block ``M1 = Lambda1' Z1' W Z1 Lambda1 + I`` is block diagonal (one p1 x p1 block ``L1 L1'`` per
level) and is factored level by level.  The other terms (and X, and for lmer y) form one small dense
Schur complement ``S = M_rr - E' E = R R'``, where ``E = L1^-1 M_1r`` is the coupling divided by the
first term's factor.  So ``log|L|^2 = sum log|L1|^2 + log|R_rr|^2`` (:func:`log_det_L`).

* :class:`PenalizedLeastSquares` (lmer): the weights are fixed, so the cross-products of
  ``[Z_rest, X, y]`` are formed once and each theta costs a congruence by Lambda and a Cholesky;
  y enters through its residual from the least-squares fit on X (the precision of r^2 depends on it),
  R's last diagonal element is r, and ``W'Z1 G Z1'W`` is one sparse product (:class:`SandwichMap`)
  when W'Z1 is large.
* :class:`PenalizedWeightedLS` (glmer): the weights change at every PIRLS step, so the
  cross-products are re-summed from the observations (``np.bincount``); E'E is summed over the
  pairs of nonzeros of E when that is cheaper.

Shared: Lambda of the non-leading terms, a vector when all are scalar (:func:`rest_lambda`),
``log|L|^2`` (:func:`log_det_L`) and the conditional variances (:func:`conditional_variances`).

Notation: ``T1`` is the leading term's relative covariance factor T(theta) (``Lambda1`` = T1 per
level), ``Lr`` the Lambda of the other terms, ``ZL1`` the rows of ``Z1 Lambda1`` (n, p1), ``L1`` the
per-level Cholesky factors of M1, ``R`` the Cholesky factor of the Schur complement S.
"""
import copy
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .design import prior_weights
from .terms import lambda_matrix

DENSE_LIMIT = 2_000_000  # lmer's W'Z1 is kept dense below this many entries
DENSE_SCHUR_MAX = 1e6  # a dense E' E below this many multiply-adds takes BLAS well under a millisecond


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


def unscaled_vcov(RX):
    """``(R_X' R_X)^-1``, beta's covariance divided by sigma^2 (lme4's ``unsc()``), from the lower-triangular
    R_X: the beta block of ``S^-1`` when ``S = R R'`` and R_X is R's last diagonal block."""
    RX_inv = la.lapack.dtrtri(RX, lower=1)[0] if len(RX) else RX  # R_X^-1 (a threaded trsm is slow)
    return RX_inv.T @ RX_inv


class AugmentedCholesky(NamedTuple):
    """The factorisation of :meth:`PenalizedLeastSquares.factorize` (lmer): y's column augments the Schur
    complement, so R's last row holds ``[u_rest; beta - beta_ls]``'s right-hand side and its last diagonal
    element is r."""
    T1: np.ndarray
    """T(theta) of the leading term (p1 x p1)"""
    L1: np.ndarray
    """the leading term's per-level Cholesky factors, ``L1_j L1_j' = T1' Z1j' W Z1j T1 + I`` (levels, p1, p1)"""
    R: np.ndarray
    """the Cholesky factor of the Schur complement of ``[Z_rest, X, y]`` (lower; its upper triangle is not cleared)"""


class Lambdas(NamedTuple):
    """What depends on theta alone in :class:`PenalizedWeightedLS`, formed once per PIRLS run.

    Immutable, as the frozen dataclasses; a named tuple because it is built on the hot path (a tuple's cost)."""
    T1: np.ndarray
    """T(theta) of the leading term (p1 x p1)"""
    Lr: object
    """Lambda of the other terms (:func:`rest_lambda`)"""
    ZL1: np.ndarray
    """the rows of ``Z1 Lambda1`` (n, p1)"""


class BlockedCholesky(NamedTuple):
    """The blockwise Cholesky factorisation of :meth:`PenalizedWeightedLS.factorize` (built at every
    PIRLS step: a named tuple, as :class:`Lambdas`)."""
    L1: np.ndarray
    """the leading term's per-level Cholesky factors, ``L1_j L1_j' = M1_j`` (levels, p1, p1)"""
    E: np.ndarray
    """``L1_j^-1 M1r_j``, the coupling with the other columns [u_rest, beta] (levels, p1, m)"""
    R: np.ndarray
    """the Cholesky factor of the Schur complement ``S = R R'`` (m x m, lower)"""
    lam: Lambdas
    """Lambda at theta"""
    m: int
    """the columns of the Schur complement: q_rest, plus p with beta"""
    with_beta: bool
    """whether X's columns (beta) are part of the system"""


class PenalizedLeastSquares:
    """lmer's cross-products (prior weights W), and its profiled criterion as a function of theta.

    The leading term's block of ``Lambda' Z' W Z Lambda + I`` is factored level by level; everything
    else -- the other random terms, X and y -- forms one small dense block, the Schur complement
    ``S = Lambda_W' (W'W - W'Z1 G Z1'W) Lambda_W + diag(I, 0)`` with ``W = [Z_rest, X, y]`` (rows times
    ``sqrt(w_i)``) and ``G = Lambda_1 (Lambda_1' Z1'Z1 Lambda_1 + I)^-1 Lambda_1'``.  Its Cholesky factor
    holds log|L| of the other terms, R_X, and, in its last diagonal element, r.
    """

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
        self.WtW = (W.T @ W).toarray()
        self._scalar_rest = all(t.p == 1 for t in rest)
        if WtZ1.shape[0] * WtZ1.shape[1] <= DENSE_LIMIT:
            self.WtZ1, self._sandwich_map = WtZ1.toarray(), None
        else:
            self.WtZ1, self._sandwich_map = WtZ1, SandwichMap(WtZ1, first.p, self.WtW)
        self._penalty = np.r_[np.ones(self.q_rest), np.zeros(self.p + 1)]
        self._diagonal = np.diag_indices(len(self._penalty))

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

    # ------------------------------------------------------------ the factorisation

    def factorize(self, theta):
        """Factor the model at theta: the leading term's per-level Cholesky factors and R (dense).

        Returns an :class:`AugmentedCholesky`: ``L1[j] L1[j]' = T1' Z1j' W Z1j T1 + I`` and ``R R' = S``.
        """
        thetas = self.design.split_theta(np.asarray(theta, dtype=float))
        T1 = self.first.relative_factor(thetas[0])
        M1 = T1.T @ self.first_crossprod @ T1 + np.eye(self.first.p)
        L1 = np.linalg.cholesky(M1)
        G = T1 @ np.linalg.inv(M1) @ T1.T  # (levels, p, p): T1 M1^-1 T1'
        if self._sandwich_map is not None and self._scalar_rest:  # S's nonzeros alone, in LAPACK's layout
            S = self._sandwich_map.schur(G, self._scaling(thetas[1:]), self._penalty)
        else:
            K = self._sandwich(G)
            S = self._scale(thetas[1:], np.subtract(self.WtW, K, out=K))
            S[self._diagonal] += self._penalty
        R, info = la.lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("the penalized cross-product matrix is not positive definite")
        return AugmentedCholesky(T1=T1, L1=L1, R=R)

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
            s = self._scaling(thetas)
            A *= s[:, None]
            A *= s[None, :]
            return A
        A = np.tril(A)
        A += np.tril(A, -1).T
        Lam = sp.block_diag([rest_lambda(self.rest, thetas), sp.identity(self.p + 1)], format="csr")  # X, y: I
        return Lam.T @ (Lam.T @ A).T

    def _scaling(self, thetas):
        """The diagonal of ``Lambda_W`` when all other terms are scalar: theta per level, then ones (X, y)."""
        return np.r_[rest_lambda(self.rest, thetas), np.ones(self.p + 1)]

    # ------------------------------------------------------------ criteria

    def pieces(self, theta):
        """log|L|^2, log|R_X|^2 and the penalized residual sum of squares r^2 at theta."""
        f = self.factorize(theta)
        logdet_RX = 2 * np.log(np.diagonal(f.R))[self.q_rest: self.q_rest + self.p].sum()
        return log_det_L(f.L1, f.R, self.q_rest), logdet_RX, np.diagonal(f.R)[-1] ** 2

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
        f = self.factorize(theta)
        T1, L1, R = f.T1, f.L1, np.tril(f.R)
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
        return Solution(beta=beta, u=np.r_[u1.ravel(), u_rest], b=np.r_[b1.ravel(), b_rest],
                        sigma=sigma, vcov=sigma**2 * unscaled_vcov(RX), RX=RX)

    def unscaled_vcov(self, theta):
        """``(R_X' R_X)^-1`` at theta: the covariance of beta-hat divided by sigma^2 (:func:`unscaled_vcov`)."""
        R, q = self.factorize(theta).R, self.q_rest
        return unscaled_vcov(np.tril(R[q: q + self.p, q: q + self.p]))

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
        """:func:`conditional_variances` at theta (lme4's ``condVar`` divided by sigma^2)."""
        T1, L1, R = self.factorize(theta)
        qr, p1 = self.q_rest, self.first.p
        Lr = rest_lambda(self.rest, self.design.split_theta(np.asarray(theta, dtype=float))[1:])
        if not qr:
            return conditional_variances(T1, L1, np.zeros((len(L1), p1, 0)), np.zeros((0, 0)), Lr, self.rest)
        B = self.WtZ1[:qr]
        B = ((B.toarray() if sp.issparse(B) else B).reshape(qr, -1, p1) @ T1).reshape(qr, -1)  # Z_r' W Z1 Lambda1
        B = (Lr[:, None] * B if isinstance(Lr, np.ndarray) else Lr.T @ B).reshape(qr, -1, p1)
        E = np.linalg.solve(L1, B.transpose(1, 2, 0))                                # (levels, p1, q_rest)
        return conditional_variances(T1, L1, E, np.tril(R[:qr, :qr]), Lr, self.rest)


class SandwichMap:
    """``B G B'`` for a sparse B and block-diagonal G, as one sparse matrix-vector product.

    Entry (i, k) of ``B G B'`` is ``sum_l sum_ab B[i, lp+a] G[l, a, b] B[k, lp+b]``: linear in
    the entries of G with coefficients fixed by B.  Precomputing those coefficients (for the
    lower triangle) turns each evaluation into one product ``P @ G.ravel()``.

    Given the symmetric ``C`` (lmer's ``W'W``), :meth:`schur` forms ``D (C - B G B') D + diag(d)``
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


class PenalizedWeightedLS:
    """One PIRLS step's penalized weighted least squares, for a list of random-effects terms.

    Solves ``([Z Lambda, X]' W [Z Lambda, X] + diag(I, 0)) [u; beta] = [Z Lambda, X]' W z`` (the
    columns of X only when beta is estimated inside PIRLS) by blocks: the diagonal blocks of the
    leading term (one p x p block per level), then a small dense Schur complement for the other
    terms and beta.  ``lam`` (:class:`Lambdas`, from :meth:`lambdas`) is what depends on theta alone.
    """

    def __init__(self, terms, X):
        self.X = X
        self.n, self.p = X.shape
        self.first, self.rest = terms[0], terms[1:]
        self.q1 = self.first.q
        self.qr = sum(t.q for t in self.rest)
        self.Zr = (sp.hstack([t.Z() for t in self.rest], format="csr") if self.rest
                   else sp.csr_matrix((self.n, 0)))
        self.ZrT = self.Zr.T.tocsr()                              # formed once: PIRLS multiplies by it twice a step
        self._index_products()

    def _index_products(self):
        """Where each observation's products land in ``Z_r' W Z_r`` and ``Z_r' W Z_1``.

        Every row of Z has the same pattern: p entries for each term.  So the weighted
        cross-products are sums over observations of ``w_i z_ia z_ib``, computed for all
        pairs (a, b) at once with one ``np.bincount`` -- no sparse matrices in the loop.
        """
        first, n = self.first, self.n
        self.codes1 = first.codes
        self.idx1 = self.codes1[:, None] * first.p + np.arange(first.p)    # (n, p1) columns of Z1
        self._schur_pairs = None
        if not self.rest:
            return
        idx, val, start = [], [], 0
        for t in self.rest:
            idx.append(start + t.codes[:, None] * t.p + np.arange(t.p))
            val.append(t.rows)
            start += t.q
        self.idx_r, self.val_r = np.hstack(idx), np.hstack(val)            # (n, K) columns of Z_r
        self._rr_index = (self.idx_r[:, :, None] * self.qr + self.idx_r[:, None, :]).ravel()
        self._rr_value = (self.val_r[:, :, None] * self.val_r[:, None, :]).reshape(n, -1)
        # Z_r' W Z_1 is sparse (an observation couples one level of the first term with K columns of Z_r):
        # only its nonzero blocks, (column of Z_r, level of the first term) with p1 entries each, are formed
        blocks, position = np.unique(self.idx_r * first.n_levels + self.codes1[:, None], return_inverse=True)
        self._r1_rows, self._r1_levels = np.divmod(blocks, first.n_levels)
        self._r1_index = (position.reshape(n, -1)[:, :, None] * first.p + np.arange(first.p)).ravel()
        self._r1_value = (self.val_r[:, :, None] * first.rows[:, None, :]).reshape(n, -1)
        self._schur_pairs = self._sparse_schur_pairs()

    def _sparse_schur_pairs(self):
        """The pairs of nonzeros of E (one row per level and effect of the first term) that ``E_r' E_r`` sums.

        ``(E_r' E_r)_ab = sum_l E_la E_lb`` has a product only where row l of E_r holds both a and b.  When
        the first term has one level per observation (``(1 | obs)``) a row holds K nonzeros, and the sum
        over these pairs is far cheaper than the dense product; None when E_r is dense enough for BLAS.
        """
        p1, qr = self.first.p, self.qr
        rows = (self._r1_levels[:, None] * p1 + np.arange(p1)).ravel()       # nonzeros of E_r: (row, column)
        cols = np.repeat(self._r1_rows, p1)
        per_row = np.bincount(rows, minlength=self.q1)
        dense_cost = self.q1 * p1 * qr**2                                 # multiply-adds of the dense product
        if dense_cost < DENSE_SCHUR_MAX or np.sum(per_row.astype(float)**2) * 20 > dense_cost:
            return None
        order = np.argsort(rows, kind="stable")
        size = per_row[rows[order]]                                       # nonzeros in each one's row
        first_of_row = np.cumsum(per_row) - per_row
        left = np.repeat(order, size)
        right = order[np.repeat(first_of_row[rows[order]], size)
                      + np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)]
        return rows, cols, left, right, cols[left] * qr + cols[right]

    # ------------------------------------------------------------ Lambda

    def lambdas(self, thetas):
        """:class:`Lambdas` from one theta per term."""
        T1 = self.first.relative_factor(thetas[0])
        return Lambdas(T1=T1, Lr=rest_lambda(self.rest, thetas[1:]), ZL1=self.first.rows @ T1)

    def linear_predictor(self, lam, u, fixed):
        """``eta = fixed + Z Lambda u``, ``fixed`` being ``offset + X beta``: ``b = Lambda u`` is the leading
        term's blocks of u times T1 and the others' times Lambda_r."""
        T1, Lr = lam.T1, lam.Lr
        u1, ur = u[: self.q1], u[self.q1:]
        if self.first.p == 1:
            eta = fixed + self.first.rows[:, 0] * (u1 * T1[0, 0])[self.codes1]
        else:
            b1 = (u1.reshape(-1, self.first.p) @ T1.T).ravel()
            eta = fixed + np.sum(self.first.rows * b1[self.idx1], axis=1)
        if not self.rest:
            return eta
        return eta + self.Zr @ (Lr * ur if isinstance(Lr, np.ndarray) else Lr @ ur)

    # ------------------------------------------------------------ one weighted solve

    def factorize(self, lam, w, with_beta):
        """Cholesky pieces of ``[Z Lambda, X]' W [Z Lambda, X] + diag(I, 0)`` for the weights w.

        The leading term's diagonal blocks M1 = L1 L1' (one per level), E = L1^-1 B' for
        the coupling B of the other columns with it, and R R' = S, the Schur complement.
        """
        T1, Lr, ZL1 = lam.T1, lam.Lr, lam.ZL1
        first, p1, levels = self.first, self.first.p, self.first.n_levels
        M1 = np.empty((levels, p1, p1))
        for a in range(p1):
            for c in range(a + 1):
                M1[:, a, c] = M1[:, c, a] = np.bincount(self.codes1, w * ZL1[:, a] * ZL1[:, c], levels)
        M1.reshape(levels, -1)[:, :: p1 + 1] += 1.0
        L1 = np.linalg.cholesky(M1) if p1 > 1 else np.sqrt(M1)
        blocks_S = []                                           # rows of S and of B: [u_rest, beta]
        if self.rest:
            Srr = np.bincount(self._rr_index, (w[:, None] * self._rr_value).ravel(), self.qr**2).reshape(self.qr, -1)
            Br1 = np.bincount(self._r1_index, (w[:, None] * self._r1_value).ravel(), len(self._r1_rows) * p1)
            Br1 = Br1.reshape(-1, p1) @ T1                       # nonzero blocks of Z_r' W Z1 Lambda1
            rows, lvls = self._r1_rows, self._r1_levels
            if isinstance(Lr, np.ndarray):
                Srr = Lr[:, None] * Srr * Lr[None, :]
                Br1 = Lr[rows, None] * Br1
            else:
                Srr = (Lr.T @ (Lr.T @ Srr).T).T
                dense = np.zeros((self.qr, levels, p1))
                dense[rows, lvls] = Br1
                Br1 = (Lr.T @ dense.reshape(self.qr, -1)).reshape(self.qr, levels, p1)[rows, lvls]
            Srr.flat[:: self.qr + 1] += 1.0
            blocks_S.append(Srr)
        if with_beta and self.p:                                # no columns in X: nothing to add
            Xw = self.X * w[:, None]
            Bx1 = np.stack([np.bincount(self.codes1, Xw[:, j] * ZL1[:, a], levels)    # X' W Z1 Lambda1
                            for j in range(self.p) for a in range(p1)]).reshape(self.p, p1, levels).transpose(0, 2, 1)
            if self.rest:
                XtWZr = self.ZrT @ Xw                           # (q_r, p)
                XtWZr = Lr[:, None] * XtWZr if isinstance(Lr, np.ndarray) else Lr.T @ XtWZr
                blocks_S = [np.block([[blocks_S[0], XtWZr], [XtWZr.T, self.X.T @ Xw]])]
            else:
                blocks_S = [self.X.T @ Xw]
        m = self.qr + (self.p if with_beta else 0)
        if m:
            S = blocks_S[0]
            if p1 == 1:                                            # E' = B / L1, from the nonzero blocks
                Et = np.zeros((m, levels))
                if self.rest:
                    Et[rows, lvls] = Br1[:, 0] / L1[lvls, 0, 0]
                if m > self.qr:
                    Et[self.qr:] = Bx1[:, :, 0] / L1[:, 0, 0]
                E = Et.T[:, None, :]                                 # (levels, 1, m)
            else:
                B = np.zeros((m, levels, p1))                        # rows: [u_rest, beta]
                if self.rest:
                    B[rows, lvls] = Br1
                if m > self.qr:
                    B[self.qr:] = Bx1
                E = np.linalg.solve(L1, B.transpose(1, 2, 0))        # (levels, p1, m)
            E2 = E.reshape(-1, m)
            S = S - self._schur_product(E2)
            R, info = la.lapack.dpotrf(S, lower=1, clean=1)
            if info != 0:
                raise np.linalg.LinAlgError("penalized weighted cross-product matrix is not positive definite")
        else:
            E, R = np.zeros((levels, p1, 0)), np.zeros((0, 0))
        return BlockedCholesky(L1=L1, E=E, R=R, lam=lam, m=m, with_beta=with_beta)

    def _schur_product(self, E2):
        """``E' E``: from the pairs of nonzeros of its u_rest columns when they are sparse, else dense BLAS."""
        if self._schur_pairs is None:
            return E2.T @ E2
        rows, cols, left, right, out = self._schur_pairs
        qr = self.qr
        values = E2[rows, cols]
        product = np.empty((E2.shape[1],) * 2)
        product[:qr, :qr] = np.bincount(out, values[left] * values[right], qr * qr).reshape(qr, qr)
        if E2.shape[1] > qr:                                    # with beta
            cross = E2[:, :qr].T @ E2[:, qr:]
            product[:qr, qr:], product[qr:, :qr] = cross, cross.T
            product[qr:, qr:] = E2[:, qr:].T @ E2[:, qr:]
        return product

    def solve(self, f, wz):
        """Solve the factored problem for the right-hand side ``[Z Lambda, X]' wz``: ``(u, beta)``."""
        L1, E, R, ZL1, m = f.L1, f.E, f.R, f.lam.ZL1, f.m
        p1, levels = self.first.p, self.first.n_levels
        r1 = (np.bincount(self.codes1, ZL1[:, 0] * wz, levels)[:, None] if p1 == 1
              else np.stack([np.bincount(self.codes1, ZL1[:, a] * wz, levels) for a in range(p1)], axis=1))
        c1 = np.linalg.solve(L1, r1[:, :, None])[:, :, 0] if p1 > 1 else r1 / L1[:, :, 0]
        x2 = np.zeros(0)
        if m:
            parts = []
            if self.rest:
                rr = self.ZrT @ wz
                Lr = f.lam.Lr
                parts.append(Lr * rr if isinstance(Lr, np.ndarray) else Lr.T @ rr)
            if f.with_beta:
                parts.append(self.X.T @ wz)
            r2 = np.concatenate(parts) - E.reshape(-1, m).T @ c1.ravel()
            x2, _ = la.lapack.dpotrs(R, r2, lower=1)                # cho_solve without its checks
            c1 = c1 - E @ x2
        x1 = (np.linalg.solve(L1.transpose(0, 2, 1), c1[:, :, None])[:, :, 0] if p1 > 1
              else c1 / L1[:, :, 0])
        return np.concatenate([x1.ravel(), x2[: self.qr]]), x2[self.qr:]

    def log_det(self, f):
        """``log|L|^2`` of the random-effects rows (the beta rows of R are not part of it)."""
        return log_det_L(f.L1, f.R, self.qr)
