"""Satterthwaite's degrees of freedom for t- and F-tests of fixed effects, as lmerTest computes them.

A contrast ``L beta`` has estimated variance ``v(tau) = L C(tau) L'`` with
``C(tau) = sigma^2 (R_X' R_X)^-1`` the covariance of beta-hat, a function of the variance
parameters ``tau = (theta, sigma)``.  Satterthwaite matches ``v`` to a scaled chi-square:

    df = 2 v^2 / (g' A g),     g = d v / d tau,     A = Cov(tau-hat) = 2 H^-1

where H is the Hessian of the deviance written as a function of tau (lmerTest's ``devfun_vp``)

    ML:    log|L|^2 + r^2 / sigma^2 + n log(2 pi sigma^2)
    REML:  log|L|^2 + log|R_X|^2 + r^2 / sigma^2 + (n - p) log(2 pi sigma^2)

with log|L|^2, log|R_X|^2 and the penalized residual sum of squares r^2 evaluated at theta.
lmerTest differentiates numerically (numDeriv, Richardson extrapolation); so do we.

For a q-row contrast (an F-test) lmerTest rotates L by the eigenvectors of ``L C L'`` into q
independent t-statistics with df ``nu_m``; ``F = mean(t_m^2)`` on q and
``2 E / (E - q)`` denominator df, ``E = sum nu_m / (nu_m - 2)`` (lmerTest's ``contestMD``).
"""
import numpy as np
from scipy import stats

EIGEN_TOL = 1e-8  # lmerTest's tolerance for positive eigenvalues of the Hessian


# ------------------------------------------------------------ numerical derivatives (numDeriv)

def _steps(x, d, eps=1e-4, zero_tol=np.sqrt(np.finfo(float).eps / 7e-7)):
    x = np.asarray(x, dtype=float)
    return np.abs(d * x) + eps * (np.abs(x) < zero_tol)


def _extrapolate(estimates):
    """Richardson extrapolation of estimates made with steps h, h/2, h/4, ... (error O(h^2))."""
    a = list(estimates)
    for m in range(1, len(a)):
        a = [(a[k + 1] * 4**m - a[k]) / (4**m - 1) for k in range(len(a) - 1)]
    return a[0]


def jacobian(f, x, d=1e-4, r=4):
    """Jacobian of a (vector-valued) f by central differences with Richardson extrapolation."""
    x = np.asarray(x, dtype=float)
    h0 = _steps(x, d)
    columns = []
    for i in range(len(x)):
        estimates, h = [], h0[i]
        for _ in range(r):
            e = np.zeros_like(x)
            e[i] = h
            estimates.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
            h /= 2
        columns.append(_extrapolate(estimates))
    return np.stack(columns, axis=-1)


def hessian(f, x, d=0.1, r=4):
    """Hessian of a scalar f, numDeriv's ``genD`` scheme (Richardson-extrapolated differences)."""
    x = np.asarray(x, dtype=float)
    k = len(x)
    h0 = _steps(x, d)
    f0 = f(x)
    H = np.zeros((k, k))
    for i in range(k):
        estimates, h = [], h0.copy()
        for _ in range(r):
            e = np.zeros(k)
            e[i] = h[i]
            estimates.append((f(x + e) - 2 * f0 + f(x - e)) / h[i] ** 2)
            h = h / 2
        H[i, i] = _extrapolate(estimates)
    for i in range(k):
        for j in range(i):
            estimates, h = [], h0.copy()
            for _ in range(r):
                e = np.zeros(k)
                e[i], e[j] = h[i], h[j]
                value = (f(x + e) - 2 * f0 + f(x - e) - H[i, i] * h[i] ** 2 - H[j, j] * h[j] ** 2) / (2 * h[i] * h[j])
                estimates.append(value)
                h = h / 2
            H[i, j] = H[j, i] = _extrapolate(estimates)
    return H


# ------------------------------------------------------------ the deviance in (theta, sigma)

def deviance_varpar(model, varpar):
    """lmerTest's ``devfun_vp``: the (REML) deviance at ``varpar = (theta, sigma)``."""
    return model.pls.deviance(np.asarray(varpar[:-1]), varpar[-1], model.REML)


def covbeta_varpar(model, varpar):
    """lmerTest's ``get_covbeta``: ``sigma^2 (R_X' R_X)^-1`` at ``varpar = (theta, sigma)``."""
    return varpar[-1] ** 2 * model.pls.unscaled_vcov(np.asarray(varpar[:-1]))


class SatterthwaiteInfo:
    """What lmerTest adds to a fit: Cov(tau-hat) and the Jacobian of C(tau), computed once per model."""

    f_is_scaled = False  # f_test's F is the Wald F itself (lmerTest's Mean Sq = F sigma^2)

    def __init__(self, model):
        self.vcov_beta = np.asarray(model._vcov)
        self.beta = np.asarray(model.beta)
        varpar = np.r_[model._theta, model.sigma]
        H = hessian(lambda v: deviance_varpar(model, v), varpar)
        values, vectors = np.linalg.eigh(H)
        positive = values > EIGEN_TOL  # a Moore-Penrose inverse, as lmerTest
        self.vcov_varpar = 2 * (vectors[:, positive] / values[positive]) @ vectors[:, positive].T
        J = jacobian(lambda v: covbeta_varpar(model, v).ravel(), varpar)
        p = len(self.beta)
        self.jacobians = [J[:, k].reshape(p, p) for k in range(J.shape[1])]

    def contrast_df(self, L):
        """Satterthwaite df of the one-dimensional contrast ``L beta``: ``2 v^2 / (g' A g)``."""
        L = np.asarray(L, dtype=float)
        v = L @ self.vcov_beta @ L
        g = np.array([L @ J @ L for J in self.jacobians])
        return 2 * v**2 / (g @ self.vcov_varpar @ g)

    def t_test(self, L, rhs=0.0):
        """t-test of ``L beta = rhs`` (lmerTest's contest1D): Estimate, Std. Error, df, t value, Pr(>|t|)."""
        L = np.asarray(L, dtype=float)
        estimate = L @ self.beta
        se = np.sqrt(L @ self.vcov_beta @ L)
        df = self.contrast_df(L)
        t = (estimate - rhs) / se
        return estimate, se, df, t, 2 * stats.t.sf(abs(t), df)

    def f_test(self, L, rhs=0.0, eps=np.sqrt(np.finfo(float).eps)):
        """F-test of ``L beta = rhs`` (rows of L); returns NumDF, DenDF, F value, Pr(>F) (lmerTest's contestMD)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
        if L.shape[0] == 1:
            _, _, df, t, _ = self.t_test(L[0], rhs[0])
            return 1, df, t**2, stats.f.sf(t**2, 1, df)
        beta = self.beta - np.linalg.pinv(L) @ rhs if np.any(rhs) else self.beta
        d, P = np.linalg.eigh(L @ self.vcov_beta @ L.T)
        d, P = d[::-1], P[:, ::-1]
        q = int(np.sum(d > max(eps * d[0], 0)))
        PtL = (P.T @ L)[:q]
        if q == 1:
            t2 = (PtL[0] @ beta) ** 2 / d[0]
            df = self.contrast_df(PtL[0])
            return 1, df, t2, stats.f.sf(t2, 1, df)
        t2 = (PtL @ beta) ** 2 / d[:q]
        F = t2.sum() / q
        nu = np.array([self.contrast_df(row) for row in PtL])
        df = f_statistic_df(nu)
        return q, df, F, stats.f.sf(F, q, df)


def f_statistic_df(nu, tol=1e-8):
    """lmerTest's ``get_Fstat_ddf``: the df of the mean of q squared t-statistics with df nu."""
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return nu[0]
    if np.all(np.abs(np.diff(nu)) < tol):
        return nu.mean()
    if np.any(nu <= 2):
        return 2.0
    E = np.sum(nu / (nu - 2))
    return 2 * E / (E - len(nu))


def satterthwaite(model):
    """The Satterthwaite pieces of a fitted linear mixed model (computed once per theta)."""
    return model._at_theta("satterthwaite", SatterthwaiteInfo)
