"""PIRLS, the Laplace approximation and adaptive Gauss-Hermite quadrature for GLMMs.

For the model of :mod:`mixedlite.glmm` (lme4's ``glmer``), the likelihood integrates the
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

Linear algebra: the random-effects term with most levels comes first, so its block of
``Lambda' Z' W Z Lambda + I`` is block diagonal (one p x p block per level) and is factored
level by level; the other terms (and beta, in stage 1) form a small dense Schur complement.
The coupling of the first term with the others is sparse and only its nonzero blocks are formed;
where E (the coupling divided by the first term's factor) is sparse, the product E' E of the Schur
complement is summed over the pairs of nonzeros of E instead of a dense product.  An
observation-level first term (``(1 | obs)``, one level per row, for overdispersion) is eliminated
from PIRLS's steps altogether: the other terms are solved with reweighted observations (:class:`PIRLS`).
"""
import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .terms import lambda_matrix

PIRLS_TOL = 1e-7       # lme4's tolPwrss: relative change of the penalized deviance that ends PIRLS
PIRLS_MAXIT = 60
DENSE_SCHUR_MAX = 1e6  # a dense E' E below this many multiply-adds takes BLAS well under a millisecond


class PIRLSError(RuntimeError):
    """PIRLS did not find the conditional modes."""


class PenalizedWeightedLS:
    """One PIRLS step's penalized weighted least squares, for a list of random-effects terms.

    Solves ``([Z Lambda, X]' W [Z Lambda, X] + diag(I, 0)) [u; beta] = [Z Lambda, X]' W z`` (the
    columns of X only when beta is estimated inside PIRLS) by blocks: the diagonal blocks of the
    leading term (one p x p block per level), then a small dense Schur complement for the other
    terms and beta.  ``lam``, as :meth:`lambdas` returns it, is ``(T1, Lambda_r, Z1 Lambda1)``: what
    depends on theta alone, formed once per PIRLS run.
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
        self._scalar_rest = all(t.p == 1 for t in self.rest)
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
        """T1 of the leading term, Lambda_r of the others (a vector when all are scalar, else sparse) and
        the rows of Z1 Lambda1 (n, p1), from one theta per term."""
        T1 = self.first.factor(thetas[0])
        if not self.rest:
            Lr = np.zeros(0)
        elif self._scalar_rest:
            Lr = np.concatenate([np.repeat(th, t.n_levels) for t, th in zip(self.rest, thetas[1:])])
        else:
            Lr = lambda_matrix(self.rest, thetas[1:])
        return T1, Lr, self.first.rows @ T1

    def linear_predictor(self, lam, u, fixed):
        """``eta = fixed + Z Lambda u``, ``fixed`` being ``offset + X beta``: ``b = Lambda u`` is the leading
        term's blocks of u times T1 and the others' times Lambda_r."""
        T1, Lr, _ = lam
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
        T1, Lr, R1 = lam
        first, p1, levels = self.first, self.first.p, self.first.n_levels
        M1 = np.empty((levels, p1, p1))
        for a in range(p1):
            for c in range(a + 1):
                M1[:, a, c] = M1[:, c, a] = np.bincount(self.codes1, w * R1[:, a] * R1[:, c], levels)
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
            Bx1 = np.stack([np.bincount(self.codes1, Xw[:, j] * R1[:, a], levels)    # X' W Z1 Lambda1
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
        return dict(L1=L1, E=E, R=R, R1=R1, T1=T1, Lr=Lr, m=m, with_beta=with_beta)

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
        L1, E, R, R1, m = f["L1"], f["E"], f["R"], f["R1"], f["m"]
        p1, levels = self.first.p, self.first.n_levels
        r1 = (np.bincount(self.codes1, R1[:, 0] * wz, levels)[:, None] if p1 == 1
              else np.stack([np.bincount(self.codes1, R1[:, a] * wz, levels) for a in range(p1)], axis=1))
        c1 = np.linalg.solve(L1, r1[:, :, None])[:, :, 0] if p1 > 1 else r1 / L1[:, :, 0]
        x2 = np.zeros(0)
        if m:
            parts = []
            if self.rest:
                rr = self.ZrT @ wz
                parts.append(f["Lr"] * rr if isinstance(f["Lr"], np.ndarray) else f["Lr"].T @ rr)
            if f["with_beta"]:
                parts.append(self.X.T @ wz)
            r2 = np.concatenate(parts) - E.reshape(-1, m).T @ c1.ravel()
            x2, _ = la.lapack.dpotrs(R, r2, lower=1)                # cho_solve without its checks
            c1 = c1 - E @ x2
        x1 = (np.linalg.solve(L1.transpose(0, 2, 1), c1[:, :, None])[:, :, 0] if p1 > 1
              else c1 / L1[:, :, 0])
        return np.concatenate([x1.ravel(), x2[: self.qr]]), x2[self.qr:]

    def log_det(self, f):
        """``log|L|^2`` of the random-effects rows (the beta rows of R are not part of it)."""
        return (2 * np.log(np.diagonal(f["L1"], axis1=1, axis2=2)).sum()
                + 2 * np.log(np.diag(f["R"])[: self.qr]).sum())


class PIRLS(PenalizedWeightedLS):
    """Penalized iteratively reweighted least squares for one model and one response.

    ``run(theta, beta)`` finds the conditional modes u (and, when ``beta`` is None, beta
    too: lme4's nAGQ=0 step).  It keeps the last solution in ``self.state``.

    An observation-level leading term (``(1 | obs)``: one observation per level) is eliminated
    from each step's least squares: its block of the cross-product matrix is diagonal,
    ``M1 = 1 + W (Z1 Lambda1)^2`` one entry per observation, and its Schur complement is the
    cross-product of the other columns with the weights ``W / M1``.  So the other terms (and
    beta) are solved as a model of their own with those weights, and u1 follows observation by
    observation: ``u1 = Z1 Lambda1 W (z - Z_r Lambda_r u_r - X beta) / M1``, with
    ``log|L|^2 = sum(log M1) + log|L_r|^2``.  The same numbers up to rounding (a little closer to a
    long-double solve: the weights W / M1 avoid the cancellation in ``S - E'E``), without the large
    Schur product.  ``state["factor"]`` is then ``{M1, reduced}``, the reduced problem's factorisation.
    """

    def __init__(self, design, response, family, tol=PIRLS_TOL):
        super().__init__(design.terms, design.X.to_numpy(dtype=float))
        self.design, self.resp, self.family, self.tol = design, response, family, tol
        self.Z = sp.hstack([self.first.Z(), self.Zr], format="csr")
        self.offset = np.zeros(self.n) if response.offset is None else response.offset
        self.reduced = (PenalizedWeightedLS(self.rest, self.X)
                        if self.rest and is_observation_level(self.first) else None)
        self._dev_resid = family.dev_resid_given(response.y, response.wt)
        self._minus_two_loglik = family.minus_two_loglik_given(response.y, response.wt, response.n)
        self.state = None

    def factor(self, theta, sqrtw, with_beta):
        """The blockwise factorisation at theta for the working weights ``sqrtw**2`` (all terms)."""
        thetas = self.design.split_theta(np.asarray(theta, dtype=float))
        return self.factorize(self.lambdas(thetas), sqrtw**2, with_beta)

    def _weighted_step(self, lam, lam_r, w, z, with_beta):
        """One step's penalized weighted least squares: ``(u, beta, factorisation)``; ``lam_r``: the
        :meth:`lambdas` of the other terms when the observation-level term is eliminated."""
        if self.reduced is None:
            f = self.factorize(lam, w, with_beta)
            u, b = self.solve(f, w * z)
            return u, b, f
        r1 = lam[2][:, 0]                                       # Z1 Lambda1, one entry per observation
        M1 = w * r1 * r1 + 1
        w_r = w / M1
        f = self.reduced.factorize(lam_r, w_r, with_beta)
        u_r, b = self.reduced.solve(f, w_r * z)
        fitted = self.reduced.linear_predictor(lam_r, u_r, self.X @ b if with_beta else 0.0)
        u1 = np.empty(self.q1)
        u1[self.codes1] = r1 * w * (z - fitted) / M1
        return np.concatenate([u1, u_r]), b, dict(M1=M1, reduced=f)

    def _log_det(self, f):
        """``log|L|^2`` of a step's factorisation (``_weighted_step``)."""
        if self.reduced is None:
            return self.log_det(f)
        return np.log(f["M1"]).sum() + self.reduced.log_det(f["reduced"])

    # ------------------------------------------------------------ the iterations

    def penalized_deviance(self, mu, u):
        """``sum(dev_resid) + |u|^2`` at the mean mu."""
        return self._dev_resid(mu).sum() + u @ u

    def run(self, theta, beta=None, eta_start=None):
        """PIRLS at theta: the conditional modes u, and beta too when ``beta`` is None.

        Starts from the linear predictor ``eta_start``; stops when the penalized deviance
        changes by less than ``PIRLS_TOL`` (relative), halving steps that increase it.
        """
        fam, y, wt = self.family, self.resp.y, self.resp.wt
        with_beta = beta is None
        theta = np.asarray(theta, dtype=float)
        thetas = self.design.split_theta(theta)
        lam = self.lambdas(thetas)
        lam_r = None if self.reduced is None else self.reduced.lambdas(thetas[1:])
        eta = np.asarray(eta_start, dtype=float)
        u = np.zeros(self.q1 + self.qr)
        b = np.zeros(self.p) if with_beta else np.asarray(beta, dtype=float)
        old_pdev, old = np.inf, None
        converged = False
        mu = fam.linkinv(eta)
        base = self.offset if with_beta else self.offset + self.X @ b
        for _ in range(PIRLS_MAXIT):
            mu_eta = fam.mu_eta(eta)
            sqrtw = np.sqrt(wt * mu_eta**2 / fam.variance(mu))
            z = eta - base + (y - mu) / mu_eta
            u, b_new, f = self._weighted_step(lam, lam_r, sqrtw**2, z, with_beta)
            if with_beta:
                b = b_new
            eta = self.linear_predictor(lam, u, self.offset + self.X @ b if with_beta else base)
            mu = fam.linkinv(eta)
            pdev = self.penalized_deviance(mu, u)
            if not np.isfinite(pdev):
                raise PIRLSError("non-finite penalized deviance in PIRLS")
            if pdev > old_pdev and old is not None:  # step halving, as lme4
                for _ in range(10):
                    u = (u + old[0]) / 2
                    b = (b + old[1]) / 2 if with_beta else b
                    eta = self.linear_predictor(lam, u, self.offset + self.X @ b if with_beta else base)
                    mu = fam.linkinv(eta)
                    pdev = self.penalized_deviance(mu, u)
                    if pdev <= old_pdev:
                        break
                if pdev - old_pdev > self.tol:
                    raise PIRLSError("PIRLS step-halving failed to reduce the penalized deviance")
            if abs(old_pdev - pdev) < self.tol * abs(pdev):
                converged = True
                break
            old_pdev, old = pdev, (u, b)
        if not converged:
            raise PIRLSError(f"PIRLS did not converge in {PIRLS_MAXIT} iterations")
        self.state = dict(theta=theta, u=u, beta=b, eta=eta, mu=mu, factor=f, with_beta=with_beta,
                          ldL2=self._log_det(f), sqrtw=sqrtw)
        return self.state

    # ------------------------------------------------------------ deviances

    def laplace(self, state):
        """lme4's Laplace deviance: ``-2 log p(y | u) + |u|^2 + log|L|^2``."""
        return self._minus_two_loglik(state["mu"]) + state["u"] @ state["u"] + state["ldL2"]

    def agq(self, state, nodes, weights):
        """lme4's adaptive Gauss-Hermite deviance for one scalar term (see the module docstring)."""
        theta, u0, beta = state["theta"], state["u"], state["beta"]
        codes, levels = self.codes1, self.first.n_levels
        fixed = self.offset + self.X @ beta
        rows = self.first.rows[:, 0] * theta[0]

        def group_deviance(u):
            mu = self.family.linkinv(fixed + rows * u[codes])
            return np.bincount(codes, self._dev_resid(mu), levels) + u**2

        devc0 = group_deviance(u0)
        sd = 1 / state["factor"]["L1"][:, 0, 0]
        mult = np.zeros(levels)
        for z, w in zip(nodes, weights):
            if z == 0:
                mult += w
            else:
                mult += w * np.exp(-0.5 * (group_deviance(u0 + z * sd) - devc0) + z**2 / 2)
        return devc0.sum() + state["ldL2"] - 2 * np.log(mult).sum()

    def conditional_variances(self, state):
        """Diagonal blocks of ``Lambda (Lambda' Z' W Z Lambda + I)^-1 Lambda'`` per term (lme4's condVar)."""
        f = self.factor(state["theta"], state["sqrtw"], with_beta=False)
        L1, E, R, T1 = f["L1"], f["E"], f["R"], f["T1"]
        L1_inv = np.linalg.inv(L1)
        M1_inv = L1_inv.transpose(0, 2, 1) @ L1_inv
        out = []
        if self.qr:
            R_inv = la.solve_triangular(R, np.eye(self.qr), lower=True)
            F = np.einsum("mk,lpk->lpm", R_inv, E)                 # R^-1 E_l'
            inner = np.eye(self.first.p) + np.einsum("lpm,lqm->lpq", F, F)
            M1_inv = L1_inv.transpose(0, 2, 1) @ inner @ L1_inv
            Lr = np.diag(f["Lr"]) if isinstance(f["Lr"], np.ndarray) else f["Lr"].toarray()
            rest_cov = Lr @ (R_inv.T @ R_inv) @ Lr.T
        out.append(T1 @ M1_inv @ T1.T)
        start = 0
        for term in self.rest:
            idx = start + np.arange(term.q).reshape(term.n_levels, term.p)
            out.append(rest_cov[idx[:, :, None], idx[:, None, :]])
            start += term.q
        return out


def is_observation_level(term):
    """A scalar term with one observation per level, such as ``(1 | obs)`` for overdispersion."""
    return term.p == 1 and term.n_levels == len(term.codes) and np.bincount(term.codes).max() == 1


def gauss_hermite(k):
    """Nodes and weights of the k-point Gauss-Hermite rule for the standard normal density."""
    x, w = np.polynomial.hermite.hermgauss(k)
    nodes = x * np.sqrt(2)
    nodes[np.abs(nodes) < 1e-12] = 0.0
    return nodes, w / w.sum()
