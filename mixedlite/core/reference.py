"""The slow, obvious version of mixedlite: start reading here.

Every number a fitted model reports comes from the formulas in this module.  Here they are
written with dense matrices, one equation a line, as in Bates, Maechler, Bolker and Walker
(2015), "Fitting linear mixed-effects models using lme4" (JSS 67(1); "the lme4 paper") and
lme4pureR's ``pls()`` and ``pirls()``.  The fast path (:mod:`mixedlite.core.lmm`, :mod:`mixedlite.core.pirls`)
computes the same numbers with blocked sparse factorisations; ``tests/test_reference.py``
checks that the two agree.  Nothing here is fast: it is for reading and for checking.

Notation: the chapters, lme4 and this code
==========================================

=======================================  ==================================  ==========================
chapters                                 lme4 paper                          code
=======================================  ==================================  ==========================
y_ij, x_ij (ch. 2, 3)                    y (n), X (n x p)                    ``y``, ``X``
beta, the fixed effects                  beta                                ``beta``
u_j ~ N(0, tau^2), cluster j's           b = Lambda_theta u, the random      ``b``
deviation (ch. 3, 6, 8)                  effects
(u_0j, u_1j): tau_0, tau_1, rho (ch. 9)  Var(b_j) = sigma^2 T T'
(not needed by the chapters)             u ~ N(0, sigma^2 I), spherical      ``u``
                                         (GLMMs: u ~ N(0, I))
which rows belong to which cluster       Z (n x q), a column per effect      ``Z``
                                         and level
theta = tau / sigma (ch. 4, 7)           theta; T(theta) lower triangular    ``theta``, ``T``
                                         Lambda_theta = diag(T, ..., T)      ``Lambda``
eps_ij ~ N(0, sigma^2)                   sigma^2, the residual variance      ``sigma``
REML criterion (ch. 4)                   eq. 41                              ``reml_criterion``
deviance, -2 log-likelihood (ch. 4)      eq. 34                              ``deviance``
Var(u_j | y) (ch. 6)                     sigma^2 Lambda M^-1 Lambda'         ``conditional_covariance``
the conditional mode (ch. 6)             b-hat = Lambda u-hat                ``b``
g(E[y | u]) = x'beta + u_j (ch. 8)       eta = offset + X beta + Z Lambda u  ``eta``
=======================================  ==================================  ==========================

Careful with the letter u: the chapters' u_j is lme4's b_j, and lme4's u is a rescaled copy.
A chapter's random intercept ``u_j ~ N(0, tau^2)`` is lme4's ``b_j = theta u_j`` with
spherical ``u_j ~ N(0, sigma^2)``: ``Var(b_j) = theta^2 sigma^2 = tau^2``, hence ``theta = tau / sigma``.
For a term with p effects per level, each level's b has covariance ``sigma^2 T T'``.
lme4 works with u because its prior is the same for every model, which turns the model into
one penalized least-squares problem: the penalty ``|u|^2`` plays the role of the prior.

Layout: ``Z`` has one block of columns per random-effects term, in lme4's term order
(``design.terms``); within a term, the p effects of level 1, then of level 2, and so on.
``Lambda`` is block diagonal in the same order.

Prior weights (``lmer(weights=w)``): observation i has residual variance ``sigma^2 / w_i``.
Every equation below then uses ``W^(1/2) X``, ``W^(1/2) Z``, ``W^(1/2) y``, and the criteria
subtract ``log|W| = sum log w_i`` (the residual covariance is ``sigma^2 W^-1``).  Offsets are
subtracted from y before anything else.
"""
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
from scipy import optimize

from .design import prior_weights
from .families import get_family

ROUNDING = 1e-13  # relative rounding of a penalized deviance (a sum over observations): PIRLS steps below it are noise

# ---------------------------------------------------------------- the model's matrices


def model_matrices(design):
    """X (n x p) and Z (n x q) of a :class:`mixedlite.core.design.Design`, dense."""
    X = design.X.to_numpy(dtype=float)
    Z = np.hstack([term.Z().toarray() for term in design.terms])
    return X, Z


def relative_covariance_factor(design, theta):
    """Lambda(theta): block diagonal, one copy of each term's T(theta) per level of its grouping factor."""
    thetas = design.split_theta(np.asarray(theta, dtype=float))
    blocks = [np.kron(np.eye(term.n_levels), term.relative_factor(th))
              for term, th in zip(design.terms, thetas)]
    return la.block_diag(*blocks)


def lmm_response(design):
    """y minus the offset, and the prior weights (ones without ``weights=``) of an lmer design."""
    y = np.asarray(design.response(), dtype=float) - design.offset
    w = prior_weights(design)
    return y, np.ones(len(y)) if w is None else w


# ---------------------------------------------------------------- linear mixed models


@dataclass(frozen=True)
class PenalizedLeastSquares:
    """The solution of the penalized least-squares problem at one theta (lme4 paper, section 3)."""

    beta: np.ndarray        # conditional estimate of the fixed effects
    u: np.ndarray           # conditional mode of the spherical random effects
    b: np.ndarray           # b = Lambda u: the random effects, the chapters' u_j
    r2: float               # penalized weighted residual sum of squares
    logdet_L: float         # log|L|^2, L L' = M = Lambda' Z' W Z Lambda + I
    logdet_RX: float        # log|R_X|^2, R_X' R_X = X' W X - R_ZX' R_ZX
    logdet_W: float         # sum log w_i
    M_inv: np.ndarray       # M^-1 (for the conditional covariances)
    Lambda: np.ndarray
    n: int
    p: int

    @property
    def deviance(self):
        """The profiled deviance, -2 log-likelihood at theta (lme4 paper, eq. 34)."""
        return self.logdet_L + self.n * (1 + np.log(2 * np.pi * self.r2 / self.n)) - self.logdet_W

    @property
    def reml_criterion(self):
        """The profiled REML criterion at theta (lme4 paper, eq. 41)."""
        nu = self.n - self.p
        return self.logdet_L + self.logdet_RX + nu * (1 + np.log(2 * np.pi * self.r2 / nu)) - self.logdet_W

    def sigma(self, REML=True):
        """The conditional estimate of sigma: sqrt(r^2 / (n - p)) for REML, sqrt(r^2 / n) for ML."""
        return np.sqrt(self.r2 / (self.n - self.p if REML else self.n))

    def conditional_covariance(self, REML=True):
        """Var(b | y) = sigma^2 Lambda M^-1 Lambda' (given beta; lme4's ``ranef(condVar=TRUE)``).

        For one random intercept, entry j is chapter 6's (1 / tau^2 + n_j / sigma^2)^-1.
        """
        return self.sigma(REML) ** 2 * self.Lambda @ self.M_inv @ self.Lambda.T


def penalized_least_squares(X, Z, Lambda, y, w=None):
    """Minimise r^2(u, beta) = |W^(1/2) (y - X beta - Z Lambda u)|^2 + |u|^2 over u and beta.

    Setting the gradient to zero gives the joint normal equations
        [ Lambda' Z' W Z Lambda + I    Lambda' Z' W X ] [ u    ]   [ Lambda' Z' W y ]
        [ X' W Z Lambda                X' W X         ] [ beta ] = [ X' W y         ]
    and their block Cholesky factor [[L, 0], [R_ZX', R_X']] gives the determinants.
    For one random intercept this is chapter 6's shrinkage: b_j = k_j (mean of cluster j's
    residuals y - X beta), k_j = tau^2 / (tau^2 + sigma^2 / n_j) = theta^2 n_j / (theta^2 n_j + 1).
    """
    n, p = X.shape
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    sqrt_w = np.sqrt(w)
    ZL = sqrt_w[:, None] * (Z @ Lambda)                    # W^(1/2) Z Lambda
    WX, Wy = sqrt_w[:, None] * X, sqrt_w * y               # W^(1/2) X, W^(1/2) y
    q = ZL.shape[1]
    M = ZL.T @ ZL + np.eye(q)                               # M = Lambda' Z' W Z Lambda + I
    A = np.block([[M, ZL.T @ WX], [WX.T @ ZL, WX.T @ WX]])  # the joint normal equations' matrix
    solution = np.linalg.solve(A, np.r_[ZL.T @ Wy, WX.T @ Wy])
    u, beta = solution[:q], solution[q:]
    r2 = np.sum((Wy - WX @ beta - ZL @ u) ** 2) + u @ u     # penalized weighted residual sum of squares
    L = np.linalg.cholesky(M)                               # L L' = M
    R_ZX = la.solve_triangular(L, ZL.T @ WX, lower=True)    # L R_ZX = Lambda' Z' W X
    R_X = np.linalg.cholesky(WX.T @ WX - R_ZX.T @ R_ZX).T   # R_X' R_X = X' W X - R_ZX' R_ZX
    return PenalizedLeastSquares(
        beta=beta, u=u, b=Lambda @ u, r2=r2,
        logdet_L=2 * np.sum(np.log(np.diag(L))),            # log|L|^2
        logdet_RX=2 * np.sum(np.log(np.abs(np.diag(R_X)))),  # log|R_X|^2
        logdet_W=np.sum(np.log(w)), M_inv=np.linalg.inv(M), Lambda=Lambda, n=n, p=p)


def lmm_at(design, theta):
    """The penalized least-squares solution of an lmer design at theta (prior weights and offset included)."""
    X, Z = model_matrices(design)
    y, w = lmm_response(design)
    return penalized_least_squares(X, Z, relative_covariance_factor(design, theta), y, w)


def lmm_criterion(design, theta, REML=True):
    """What lmer minimises over theta: the REML criterion (REML=True) or the deviance (chapters 4 and 7)."""
    solution = lmm_at(design, theta)
    return solution.reml_criterion if REML else solution.deviance


def fit_lmm(design, REML=True):
    """The whole of lmer: minimise the criterion over theta (diagonal of each T >= 0), then solve at the optimum.

    lme4 uses BOBYQA; any bounded derivative-free optimiser reaches the same optimum, here Nelder-Mead.
    """
    bounds = [(0, None) if lower == 0 else (None, None) for lower in design.theta_lower]
    result = optimize.minimize(lambda theta: lmm_criterion(design, theta, REML), design.theta_start,
                               method="Nelder-Mead", bounds=bounds,
                               options=dict(xatol=1e-9, fatol=1e-12, maxiter=20_000, adaptive=True))
    return result.x, lmm_at(design, result.x)


# ---------------------------------------------------------------- generalized linear mixed models


@dataclass(frozen=True)
class ConditionalModes:
    """The result of PIRLS at (theta, beta): the mode of u given y, and the Laplace approximation there."""

    u: np.ndarray           # conditional mode of the spherical random effects, u ~ N(0, I)
    b: np.ndarray           # b = Lambda u, the chapters' u_j on the link scale
    eta: np.ndarray         # linear predictor offset + X beta + Z Lambda u
    mu: np.ndarray          # conditional mean g^-1(eta)
    logdet_L: float         # log|L|^2, L L' = Lambda' Z' W Z Lambda + I, W the working weights at the mode
    deviance: float         # the Laplace approximation to -2 log-likelihood


def pirls(X, Z, Lambda, y, beta, family, wt=None, n_trials=None, offset=None, tol=1e-12, max_iter=100):
    """Penalized iteratively reweighted least squares, as lme4pureR's ``pirls()`` (nAGQ = 1).

    Finds the u that minimises the penalized deviance ``sum(dev_resid(y, mu)) + |u|^2`` with
    mu = g^-1(offset + X beta + Z Lambda u).  Each step is a Fisher scoring (Newton, for a
    canonical link) step for u, with working weights ``W = wt mu_eta^2 / V(mu)``; steps that
    raise the penalized deviance are halved.  Then the Laplace approximation to chapter 8's
    integral over the u_j (a second-order expansion of the log-integrand around its mode) is
        -2 log L(theta, beta) ~= -2 log p(y | u) + |u|^2 + log|L|^2     at the mode u.
    ``family``: a :mod:`mixedlite.core.families` family or its name ("binomial", "poisson").
    Binomial responses as R's glm holds them: y the proportion of successes, wt the trials
    (``n_trials``: the trials of a cbind response, for the binomial coefficient).
    """
    family = get_family(family)
    n = len(y)
    wt = np.ones(n) if wt is None else np.asarray(wt, dtype=float)
    n_trials = np.ones(n) if n_trials is None else np.asarray(n_trials, dtype=float)
    offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    ZL = Z @ Lambda
    fixed = offset + X @ beta

    def penalized_deviance(u):
        mu = family.linkinv(fixed + ZL @ u)
        return np.sum(family.dev_resid(y, mu, wt)) + u @ u

    def cholesky_at(u):
        eta = fixed + ZL @ u
        mu = family.linkinv(eta)
        sqrt_W = family.mu_eta(eta) * np.sqrt(wt / family.variance(mu))  # W^(1/2), the working weights
        U = sqrt_W[:, None] * ZL                                            # W^(1/2) Z Lambda
        return np.linalg.cholesky(U.T @ U + np.eye(len(u))), U, mu

    u = np.zeros(ZL.shape[1])
    old = penalized_deviance(u)
    for _ in range(max_iter):
        L, U, mu = cholesky_at(u)
        weighted_residual = np.sqrt(wt / family.variance(mu)) * (y - mu)   # W^(1/2) (y - mu) / mu_eta
        step = la.cho_solve((L, True), U.T @ weighted_residual - u)          # the Fisher scoring increment
        new = penalized_deviance(u + step)
        for _ in range(10):                                                  # step halving
            if new <= old:
                break
            step = step / 2
            new = penalized_deviance(u + step)
        if new > old:
            if new - old > ROUNDING * abs(new):
                raise RuntimeError("PIRLS step halving failed to reduce the penalized deviance")
            break                                                            # u is the mode to rounding
        u = u + step
        if abs(old - new) < tol * abs(new):
            break
        old = new
    else:
        raise RuntimeError(f"PIRLS did not converge in {max_iter} iterations")
    L, _, mu = cholesky_at(u)                      # lme4 keeps the L of the last iteration: equal at convergence
    eta = fixed + ZL @ u
    logdet_L = 2 * np.sum(np.log(np.diag(L)))
    deviance = family.minus_two_loglik(y, mu, wt, n_trials) + u @ u + logdet_L
    return ConditionalModes(u=u, b=Lambda @ u, eta=eta, mu=mu, logdet_L=logdet_L, deviance=deviance)


def glmm_at(design, response, family, theta, beta, tol=1e-12):
    """PIRLS and the Laplace deviance of a glmer design at (theta, beta).

    ``response``: y, wt (prior weights; trials for the binomial) and n (trials of a cbind
    response), as :func:`mixedlite.core.glmm.binomial_response` or ``poisson_response`` make them.
    """
    X, Z = model_matrices(design)
    return pirls(X, Z, relative_covariance_factor(design, theta), response.y, np.asarray(beta, dtype=float),
                 family, wt=response.wt, n_trials=response.n, offset=design.offset, tol=tol)
