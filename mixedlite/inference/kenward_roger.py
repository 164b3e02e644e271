"""Kenward-Roger: adjusted covariance of beta-hat and denominator df, as pbkrtest computes them.

Kenward and Roger (1997) for REML fits.  Write the marginal covariance of y as a linear
function of the covariance parameters gamma (each term's variances and covariances, and
sigma^2 last), ``V = sum_r gamma_r G_r``, with ``G_r = Z_i (I (x) E_ab) Z_i'`` for entry (a, b)
of term i's covariance matrix (E_ab symmetric with ones at (a, b) and (b, a)) and the
identity for the residual (pbkrtest's ``get_SigmaG``).  With ``Phi = (X' V^-1 X)^-1``:

    P_r = -X' V^-1 G_r V^-1 X,      Q_rs = X' V^-1 G_r V^-1 G_s V^-1 X
    I_rs = tr(V^-1 G_r V^-1 G_s) - 2 tr(Phi Q_rs) + tr(Phi P_r Phi P_s)   (expected information / 2)
    W = 2 I^-1                                                          (Cov(gamma-hat))
    Phi_A = Phi + 2 Phi [ sum_rs W_rs (Q_rs - P_r Phi P_s) ] Phi        (pbkrtest's ``vcovAdj``)

For ``H0: L beta = 0`` with q rows, ``Theta = L' (L Phi L')^-1 L`` and
``A1 = sum W_rs tr(Theta Phi P_r Phi) tr(Theta Phi P_s Phi)``,
``A2 = sum W_rs tr(Theta Phi P_r Phi Theta Phi P_s Phi)`` give the denominator df
``4 + (q + 2) / (q rho - 1)`` and the F scaling (pbkrtest's ``Lb_ddf`` and ``KRmodcomp``).
V is dense n x n here: fine for the course's data sets (a few hundred observations).
"""
import numpy as np
from scipy import stats


def covariance_structure(model):
    """pbkrtest's ``get_SigmaG``: the matrices G_r (dense, n x n) and the parameters gamma."""
    G, gamma = [], []
    Z = model._Z
    start = 0
    thetas = model.design.split_theta(model._theta)
    for term, theta in zip(model.design.terms, thetas):
        Zi = Z[:, start: start + term.q].toarray().reshape(model.nobs, term.n_levels, term.p)
        start += term.q
        T = term.relative_factor(theta)
        cov = model.sigma**2 * T @ T.T
        for a, b in term.theta_positions:  # one covariance parameter per theta element, in its order
            left, right = Zi[:, :, a], Zi[:, :, b]
            Gr = left @ right.T
            if a != b:
                Gr = Gr + Gr.T
            G.append(Gr)
            gamma.append(cov[a, b])
    G.append(np.eye(model.nobs))
    gamma.append(model.sigma**2)
    return G, np.array(gamma)


class KenwardRoger:
    """The adjusted covariance Phi_A of beta-hat, with the pieces P and W needed for df."""

    f_is_scaled = True  # f_test's F is scaled; lmerTest's Mean Sq uses the unscaled wald_f

    def __init__(self, model):
        if not model.REML:
            raise ValueError("Kenward-Roger's method is only available for REML fits (pbkrtest needs the REML "
                             "estimates of the variance parameters): fit with REML=True, or use ddf='Satterthwaite'")
        G, gamma = covariance_structure(model)
        X = model.design.X.to_numpy(dtype=float)
        V = sum(g * Gr for g, Gr in zip(gamma, G))
        V_inv = np.linalg.inv(V)
        V_inv = (V_inv + V_inv.T) / 2
        Phi = np.asarray(model._vcov)
        k = len(G)
        H = [Gr @ V_inv for Gr in G]               # G_r V^-1
        O = [Hr @ X for Hr in H]                   # G_r V^-1 X
        TT = V_inv @ X
        P = [-(Or.T @ TT + (Or.T @ TT).T) / 2 for Or in O]
        Q = {(r, s): O[r].T @ V_inv @ O[s] for r in range(k) for s in range(r, k)}
        info = np.zeros((k, k))
        for r in range(k):
            PhiPr = Phi @ P[r]
            for s in range(r, k):
                info[r, s] = info[s, r] = (np.sum(H[r].T * H[s]) - 2 * np.sum(Phi * Q[r, s])
                                           + np.sum(PhiPr * (P[s] @ Phi)))
        condition = np.min(np.abs(np.linalg.eigvalsh(info)))
        W = 2 * (np.linalg.inv(info) if condition > 1e-10 else np.linalg.pinv(info))
        W = (W + W.T) / 2
        U = np.zeros_like(Phi)
        for r in range(k):
            for s in range(r, k):
                term = W[r, s] * (Q[r, s] - P[r] @ Phi @ P[s])
                U += term if r == s else term + term.T
        self.vcov_unadjusted = Phi
        self.vcov_adjusted = Phi + 2 * Phi @ U @ Phi
        self.P, self.W = P, W
        self.beta = np.asarray(model.beta)

    def _adjustment_terms(self, L):
        L = np.atleast_2d(np.asarray(L, dtype=float))
        Phi = self.vcov_unadjusted
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        ThetaPhi = Theta @ Phi
        k = len(self.P)
        u = [ThetaPhi @ Pr @ Phi for Pr in self.P]
        A1 = A2 = 0.0
        for r in range(k):
            for s in range(r, k):
                e = 1 if r == s else 2
                A1 += e * self.W[r, s] * np.trace(u[r]) * np.trace(u[s])
                A2 += e * self.W[r, s] * np.sum(u[r] * u[s].T)
        return L.shape[0], A1, A2

    def ddf(self, L):
        """Denominator df of the test of ``L beta = 0`` and pbkrtest's F scaling factor."""
        q, A1, A2 = self._adjustment_terms(L)
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        denominator = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / denominator, (q - g) / denominator, (q + 2 - g) / denominator
        V0 = 1 + c1 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        V1, V2 = 1 - c2 * B, 1 - c3 * B
        ratio = 1.0 if abs(1 - A2 / q) < 1e-14 and abs(V1) < 1e-14 else (1 - A2 / q) / V1
        rho = ratio**2 * V0 / V2 / q
        df = 4 + (q + 2) / (q * rho - 1)
        scaling = 1.0 if abs(df - 4) < 1e-2 else df * (1 - A2 / q) / (df - 2)
        return df, scaling

    def t_test(self, L, rhs=0.0):
        """t-test of ``L beta = rhs`` with the adjusted covariance and pbkrtest's ``Lb_ddf``."""
        L = np.asarray(L, dtype=float)
        estimate = L @ self.beta
        se = np.sqrt(L @ self.vcov_adjusted @ L)
        df, _ = self.ddf(L)
        t = (estimate - rhs) / se
        return estimate, se, df, t, 2 * stats.t.sf(abs(t), df)

    def wald_f(self, L, rhs=0.0):
        """The unscaled Wald F of ``L beta = rhs`` with Phi_A (pbkrtest's ``FtestU``): what lmerTest's Mean Sq uses."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
        Lb = L @ self.beta - L @ np.linalg.pinv(L) @ rhs  # pbkrtest's betaH = L^+ rhs
        return Lb @ np.linalg.solve(L @ self.vcov_adjusted @ L.T, Lb) / np.linalg.matrix_rank(L)

    def f_test(self, L, rhs=0.0):
        """pbkrtest's ``KRmodcomp``: scaled Wald F with the adjusted covariance; NumDF, DenDF, F, p."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        q = np.linalg.matrix_rank(L)
        df, scaling = self.ddf(L)
        F = scaling * self.wald_f(L, rhs)
        return q, df, F, stats.f.sf(F, q, df)


def kenward_roger(model):
    """The Kenward-Roger pieces of a REML fit (computed once per theta)."""
    return model._at_theta("kenward_roger", KenwardRoger)
