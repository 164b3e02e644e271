"""PIRLS, the Laplace approximation and adaptive Gauss-Hermite quadrature for GLMMs.

For the model of :mod:`mixedlite.core.glmm` (lme4's ``glmer``), the likelihood integrates the
spherical random effects u out; there is no closed form, so it is approximated.

1. **PIRLS** (penalized iteratively reweighted least squares).  For given theta (and beta),
   the conditional mode of u minimises the penalized deviance ``sum(dev_resid) + |u|^2``.
   Each step solves a penalized *weighted* least-squares problem with working weights
   ``W = wt mu_eta^2 / V(mu)`` and working response ``z = eta - offset + (y - mu) / mu_eta``,
   using the Cholesky factor L of ``Lambda' Z' W Z Lambda + I``, until the penalized deviance
   stops changing.

2. **Laplace approximation** (``nAGQ=1``): a second-order expansion around the mode gives

       -2 log L(theta, beta) ~= -2 log p(y | u_mode) + |u_mode|^2 + log|L|^2

   where ``-2 log p(y | u)`` keeps every constant of the binomial or Poisson density.

3. **Adaptive Gauss-Hermite quadrature** (``nAGQ = k > 1``, one scalar random-effects term):
   the random effects of different groups are then independent a posteriori, so the
   integral is a product of one-dimensional integrals, one per group.  Each is evaluated
   with k nodes centred at the group's mode and scaled by its conditional standard
   deviation ``1 / L_jj``.  As lme4, this deviance is relative to the saturated model (it
   omits ``-2 log p(y | mu = y)``), so its log-likelihood is not comparable with the Laplace one.

Linear algebra: each step is the penalized weighted least squares of :mod:`mixedlite.core.pls`
(:class:`~mixedlite.core.pls.PenalizedLeastSquares`, the one lmer uses), reweighted with the working
weights and the working response as y, with beta among the unknowns in stage 1 only.  An
observation-level first term (``(1 | obs)``, one level per row, for overdispersion) is eliminated from
PIRLS's steps altogether: the other terms are solved with reweighted observations (:class:`PIRLS`).
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .pls import Factorization, PenalizedLeastSquares

PIRLS_TOL = 1e-7       # lme4's tolPwrss: relative change of the penalized deviance that ends PIRLS
PIRLS_MAXIT = 60


class PIRLSError(RuntimeError):
    """PIRLS did not find the conditional modes."""


class EliminatedCholesky(NamedTuple):
    """A step's factorisation with the observation-level leading term eliminated (:class:`PIRLS`; built at
    every step: a named tuple, as :class:`~mixedlite.core.pls.Factorization`)."""
    M1: np.ndarray
    """the leading term's diagonal ``1 + W (Z1 Lambda1)^2``, one entry per observation"""
    reduced: Factorization
    """the other terms' factorisation, with the weights ``W / M1``"""


@dataclass(frozen=True)
class PIRLSState:
    """PIRLS's answer at theta (and beta): the conditional modes and what the deviances need."""
    theta: np.ndarray
    """the covariance parameters"""
    u: np.ndarray
    """the conditional modes of the spherical random effects"""
    beta: np.ndarray
    """the fixed effects (given, or estimated with u in stage 1)"""
    eta: np.ndarray
    """the linear predictor ``offset + X beta + Z Lambda u``"""
    mu: np.ndarray
    """the conditional mean ``linkinv(eta)``"""
    sqrtw: np.ndarray
    """the square roots of the last step's working weights"""
    z: np.ndarray
    """the last step's working response (minus the offset, and minus X beta when beta is given)"""
    ldL2: float
    """``log|L|^2`` of the last step's factorisation"""
    chol: object
    """the last step's factorisation (:class:`~mixedlite.core.pls.Factorization` or :class:`EliminatedCholesky`)"""


class PIRLS(PenalizedLeastSquares):
    """Penalized iteratively reweighted least squares for one model and one response.

    ``run(theta, beta)`` finds the conditional modes u (and, when ``beta`` is None, beta
    too: lme4's nAGQ=0 step).  It keeps the last solution in ``self.state`` (a :class:`PIRLSState`).

    An observation-level leading term (``(1 | obs)``: one observation per level) is eliminated
    from each step's least squares: its block of the cross-product matrix is diagonal,
    ``M1 = 1 + W (Z1 Lambda1)^2`` one entry per observation, and its Schur complement is the
    cross-product of the other columns with the weights ``W / M1``.  So the other terms (and
    beta) are solved as a model of their own with those weights, and u1 follows observation by
    observation: ``u1 = Z1 Lambda1 W (z - Z_r Lambda_r u_r - X beta) / M1``, with
    ``log|L|^2 = sum(log M1) + log|L_r|^2``.  The same numbers up to rounding (a little closer to a
    long-double solve: the weights W / M1 avoid the cancellation in ``S - E'E``), without the large
    Schur product.  ``state.chol`` is then an :class:`EliminatedCholesky`.
    """

    def __init__(self, design, response, family, tol=PIRLS_TOL):
        super().__init__(design.terms, design.X.to_numpy(dtype=float))
        self.design, self.resp, self.family, self.tol = design, response, family, tol
        self.Z = sp.hstack([self.first.Z(), self.Zr], format="csr")
        self.offset = np.zeros(self.n) if response.offset is None else response.offset
        self.reduced = (PenalizedLeastSquares(self.rest, self.X)
                        if self.rest and is_observation_level(self.first) else None)
        self._dev_resid = family.dev_resid_given(response.y, response.wt)
        self._minus_two_loglik = family.minus_two_loglik_given(response.y, response.wt, response.n)
        self.state = None
        self._start = None  # (eta_start, _working there): see _start_working

    def factorize_state(self, state, with_X):
        """The blockwise factorisation (all terms) of the state's last step: its theta, working weights and
        working response; X's columns ``with_X``."""
        lam = self.lambdas(self.design.split_theta(state.theta))
        return self.factorize(lam, self.reweight(state.sqrtw**2, state.z, with_X), zero_residual=True)

    def _weighted_step(self, lam, lam_r, w, z, base, with_beta):
        """One step's penalized weighted least squares: ``(u, beta, eta, factorisation)``, eta the new linear
        predictor ``base + [X beta] + Z Lambda u`` (``base``: the offset, plus X beta when beta is given);
        ``lam_r``: the :meth:`lambdas` of the other terms when the observation-level term is eliminated."""
        if self.reduced is None:
            f = self.factorize(lam, self.reweight(w, z, with_beta), zero_residual=True)
            u, beta = self.solve(f)
            return u, beta, self.linear_predictor(lam, u, base + self.X @ beta if with_beta else base), f
        r1 = self.first.rows[:, 0] * lam.T1[0, 0]               # Z1 Lambda1, one entry per observation
        M1 = w * r1 * r1 + 1
        w_r = w / M1
        f = self.reduced.factorize(lam_r, self.reduced.reweight(w_r, z, with_beta), zero_residual=True)
        u_r, beta = self.reduced.solve(f)
        fitted = self.reduced.linear_predictor(lam_r, u_r, self.X @ beta if with_beta else 0.0)
        u1 = np.empty(self.q1)
        u1[self.codes1] = r1 * w * (z - fitted) / M1
        u, chol = np.concatenate([u1, u_r]), EliminatedCholesky(M1=M1, reduced=f)
        if with_beta or not isinstance(lam.Lr, np.ndarray):
            return u, beta, self.linear_predictor(lam, u, base + self.X @ beta if with_beta else base), chol
        # scalar terms: fitted is Z_r Lambda_r u_r summed as linear_predictor sums it, so it is reused
        return u, beta, base + self.first.rows[:, 0] * (u1 * lam.T1[0, 0])[self.codes1] + fitted, chol

    def _log_det(self, f):
        """``log|L|^2`` of a step's factorisation (``_weighted_step``)."""
        if self.reduced is None:
            return self.log_det(f)
        return np.log(f.M1).sum() + self.reduced.log_det(f.reduced)

    # ------------------------------------------------------------ the iterations

    def penalized_deviance(self, mu, u):
        """``sum(dev_resid) + |u|^2`` at the mean mu."""
        return self._dev_resid(mu).sum() + u @ u

    def _working(self, mu, mu_eta):
        """The square roots of the working weights ``W = wt mu_eta^2 / V(mu)``, W, and the working residual
        ``(y - mu) / mu_eta`` (the working response is ``z = eta - offset - X beta + residual``)."""
        sqrtw = np.sqrt(self.resp.wt * mu_eta**2 / self.family.variance(mu))
        return sqrtw, sqrtw**2, (self.resp.y - mu) / mu_eta

    def _start_working(self, eta_start, eta):
        """:meth:`_working` at the starting predictor: every evaluation of a fit starts from the same one
        (lme4's ``lp0``), so what depends on it alone is computed once for it (the same numbers)."""
        if self._start is None or self._start[0] is not eta_start:
            self._start = (eta_start, self._working(*self.family.linkinv_mu_eta(eta)))
        return self._start[1]

    def run(self, theta, beta=None, eta_start=None):
        """PIRLS at theta: the conditional modes u, and beta too when ``beta`` is None.

        Starts from the linear predictor ``eta_start``; stops when the penalized deviance
        changes by less than ``PIRLS_TOL`` (relative), halving steps that increase it.
        """
        fam = self.family
        with_beta = beta is None
        theta = np.asarray(theta, dtype=float)
        thetas = self.design.split_theta(theta)
        lam = self.lambdas(thetas)
        lam_r = None if self.reduced is None else self.reduced.lambdas(thetas[1:])
        eta = np.asarray(eta_start, dtype=float)
        u = np.zeros(self.q1 + self.qr)
        beta = np.zeros(self.p) if with_beta else np.asarray(beta, dtype=float)
        old_pdev, old = np.inf, None
        converged = False
        base = self.offset if with_beta else self.offset + self.X @ beta
        sqrtw, w, residual = self._start_working(eta_start, eta)
        for _ in range(PIRLS_MAXIT):
            z = eta - base + residual
            u, b_new, eta, f = self._weighted_step(lam, lam_r, w, z, base, with_beta)
            if with_beta:
                beta = b_new
            mu, mu_eta = fam.linkinv_mu_eta(eta)
            pdev = self.penalized_deviance(mu, u)
            if not np.isfinite(pdev):
                raise PIRLSError("non-finite penalized deviance in PIRLS")
            if pdev > old_pdev and old is not None:  # step halving, as lme4
                for _ in range(10):
                    u = (u + old[0]) / 2
                    beta = (beta + old[1]) / 2 if with_beta else beta
                    eta = self.linear_predictor(lam, u, self.offset + self.X @ beta if with_beta else base)
                    mu, mu_eta = fam.linkinv_mu_eta(eta)
                    pdev = self.penalized_deviance(mu, u)
                    if pdev <= old_pdev:
                        break
                if pdev - old_pdev > self.tol * abs(pdev):  # lme4: relative, as the convergence test
                    raise PIRLSError("PIRLS step-halving failed to reduce the penalized deviance")
            if abs(old_pdev - pdev) < self.tol * abs(pdev):
                converged = True
                break
            old_pdev, old = pdev, (u, beta)
            sqrtw, w, residual = self._working(mu, mu_eta)
        if not converged:
            raise PIRLSError(f"PIRLS did not converge in {PIRLS_MAXIT} iterations")
        self.state = PIRLSState(theta=theta, u=u, beta=beta, eta=eta, mu=mu, sqrtw=sqrtw, z=z,
                                ldL2=self._log_det(f), chol=f)
        return self.state

    # ------------------------------------------------------------ deviances

    def laplace(self, state):
        """lme4's Laplace deviance: ``-2 log p(y | u) + |u|^2 + log|L|^2``."""
        return self._minus_two_loglik(state.mu) + state.u @ state.u + state.ldL2

    def agq(self, state, nodes, weights):
        """lme4's adaptive Gauss-Hermite deviance for one scalar term (see the module docstring).

        Each group's deviance ``sum(dev_resid) + u^2`` is taken at its mode u0 and at every node
        ``u0 + z sd`` at once: one row per point, the rows' residuals summed per (row, group) by one
        ``np.bincount`` (each group's residuals in the order of a row-by-row sum).
        """
        theta, u0, beta = state.theta, state.u, state.beta
        codes, levels = self.codes1, self.first.n_levels
        fixed = self.offset + self.X @ beta
        rows = self.first.rows[:, 0] * theta[0]
        sd = 1 / state.chol.L1[:, 0, 0]
        U = np.vstack([u0] + [u0 + z * sd for z in nodes if z != 0])      # the modes, then the nodes off them
        mu = self.family.linkinv(fixed + rows * U[:, codes])
        bins = (np.arange(len(U))[:, None] * levels + codes).ravel()
        deviance = np.bincount(bins, self._dev_resid(mu).ravel(), U.size).reshape(U.shape) + U**2
        devc0, at_nodes = deviance[0], iter(deviance[1:])
        mult = np.zeros(levels)
        for z, w in zip(nodes, weights):
            if z == 0:
                mult += w
            else:
                mult += w * np.exp(-0.5 * (next(at_nodes) - devc0) + z**2 / 2)
        return devc0.sum() + state.ldL2 - 2 * np.log(mult).sum()

    def conditional_variances_at(self, state):
        """:meth:`~mixedlite.core.pls.PenalizedLeastSquares.conditional_variances` at the state's theta and
        working weights (lme4's condVar)."""
        return self.conditional_variances(self.factorize_state(state, with_X=False))


def is_observation_level(term):
    """A scalar term with one observation per level, such as ``(1 | obs)`` for overdispersion."""
    return term.p == 1 and term.n_levels == len(term.codes) and np.bincount(term.codes).max() == 1


def gauss_hermite(k):
    """Nodes and weights of the k-point Gauss-Hermite rule for the standard normal density."""
    x, w = np.polynomial.hermite.hermgauss(k)
    nodes = x * np.sqrt(2)
    nodes[np.abs(nodes) < 1e-12] = 0.0
    return nodes, w / w.sum()
