"""The parametric bootstrap: lme4's ``bootMer`` and pbkrtest's ``PBmodcomp``.

Parametric bootstrap of a statistic t(model):

1. simulate ``y* = X beta-hat + Z Lambda(theta-hat) u* + e*``, ``u*, e* ~ N(0, sigma-hat^2 I)``
   from the fitted model (``simulate``); for a GLMM, new ``u* ~ N(0, I)`` and then
   ``y* | u*`` from the family (binomial successes out of the data's trials, Poisson counts)
   at ``mu* = g^-1(X beta-hat + Z Lambda(theta-hat) u*)``, as lme4's ``simulate``;
2. refit the same model to y* (``refit``: the structure -- X, Z, cross-products -- is reused,
   only the response changes, and the optimiser starts from theta-hat (and beta-hat));
3. record t(refit).  The spread of the nsim values estimates the sampling distribution of t.

Percentile intervals take quantiles of the bootstrap values (``boot.ci(type = "perc")``,
with the boot package's interpolation on the normal scale, ``norm.inter``).

``pbmodcomp(large, small)``: simulate from the *small* (null) model, refit both models to each
simulated response, and compare the observed likelihood-ratio statistic with the bootstrap
ones: ``p = (1 + #{LRT* >= LRT}) / (1 + nsim)``.
"""
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from .anova import check_same_data
from ..core.model import require


def _as_series(value):
    if isinstance(value, pd.Series):
        return value.astype(float)
    value = np.atleast_1d(np.asarray(value, dtype=float))
    return pd.Series(value, index=[f"t{i + 1}" for i in range(len(value))])


class BootstrapResult:
    """Bootstrap replicates: ``t0`` (the statistic on the data) and ``t`` (one row per replicate)."""

    def __init__(self, t0, t, seed, warnings_count):
        self.t0, self.t, self.seed, self.warnings_count = t0, t, seed, warnings_count

    @property
    def nsim(self):
        return len(self.t)

    def summary(self):
        """Original value, bias and standard error of each statistic (as boot's print)."""
        return pd.DataFrame({"original": self.t0, "bias": self.t.mean() - self.t0, "std. error": self.t.std(ddof=1)})

    def confint(self, level=0.95):
        """Percentile intervals (boot.ci type "perc"); columns named from ``level``."""
        alpha = np.array([(1 - level) / 2, (1 + level) / 2])
        rows = [percentile_interval(self.t[c].to_numpy(), alpha) for c in self.t.columns]
        return pd.DataFrame(rows, index=self.t.columns, columns=percent_labels(alpha))

    def __repr__(self):
        note = f", {self.warnings_count} refits warned (e.g. singular fits)" if self.warnings_count else ""
        return f"Parametric bootstrap: {self.nsim} replicates (seed {self.seed}){note}\n{self.summary()}"


def percent_labels(alpha):
    """R's ``format.perc``: "2.5 %", "97.5 %"."""
    return [f"{100 * a:.3g} %" for a in alpha]


def percentile_interval(t, alpha):
    """boot's ``norm.inter``: order statistics, interpolated on the normal-quantile scale."""
    t = np.sort(t[np.isfinite(t)])
    R = len(t)
    out = []
    for a in np.atleast_1d(alpha):
        rk = (R + 1) * a
        k = int(np.floor(rk))
        if k == rk and 0 < k <= R:
            out.append(t[k - 1])
        elif k <= 0:
            out.append(t[0])
        elif k >= R:
            out.append(t[-1])
        else:
            z, zk, zk1 = stats.norm.ppf(a), stats.norm.ppf(k / (R + 1)), stats.norm.ppf((k + 1) / (R + 1))
            out.append(t[k - 1] + (z - zk) / (zk1 - zk) * (t[k] - t[k - 1]))
    return np.array(out)


def bootmer(model, func, nsim=500, seed=None, progress=True):
    """Parametric bootstrap of ``func(model)`` (lme4's ``bootMer``).

    ``func`` takes a fitted model and returns a number, an array or a Series (named
    statistics), e.g. ``lambda m: m.fixef()``.  Returns a :class:`BootstrapResult` with
    ``.t0`` (func on the data), ``.t`` (a DataFrame, one row per replicate) and
    ``.confint(level)``.  The same ``seed`` gives the same replicates.  Warnings of the refits
    (singular fits are common) are counted in ``.warnings_count``, not printed.
    """
    require(model, "bootmer")
    nsim = int(nsim)
    if nsim < 1:
        raise ValueError("nsim must be a positive number of bootstrap replicates")
    rng = np.random.default_rng(seed)
    t0 = _as_series(func(model))
    responses = model._simulate_array(nsim, rng)
    rows, warned = [], 0
    for i in tqdm(range(nsim), desc="bootstrap", disable=not progress):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            refit = model.refit(responses[:, i])
        warned += bool(caught)
        value = _as_series(func(refit))
        if len(value) != len(t0):
            raise ValueError(f"func returned {len(value)} values for a replicate but {len(t0)} for the data")
        rows.append(value.to_numpy())
    t = pd.DataFrame(np.vstack(rows), columns=t0.index)
    return BootstrapResult(t0, t, seed, warned)


def _lrt(large, small):
    return 2 * (large.loglik() - small.loglik())


def pbmodcomp(m_large, m_small, nsim=1000, seed=None, progress=True):
    """pbkrtest's ``PBmodcomp``: likelihood-ratio test with a parametric-bootstrap p-value.

    Both models are compared as ML fits (REML fits are refitted by ML, as pbkrtest does).
    Returns a DataFrame with rows "LRT" (chi-square reference) and "PBtest" (bootstrap
    reference) and columns stat, df, p.value; the bootstrap statistics are in
    ``.attrs["samples"]``.
    """
    check_same_data([m_large, m_small])
    if m_large.df <= m_small.df:
        raise ValueError(f"m_large must have more parameters than m_small ({m_large.df} vs {m_small.df}); "
                         "call pbmodcomp(m_large, m_small)")
    large = m_large.refit_ml() if m_large.REML else m_large
    small = m_small.refit_ml() if m_small.REML else m_small
    observed = max(_lrt(large, small), 0.0)
    df = large.df - small.df
    rng = np.random.default_rng(seed)
    responses = small._simulate_array(int(nsim), rng)
    samples = np.empty(int(nsim))
    for i in tqdm(range(int(nsim)), desc="PBmodcomp", disable=not progress):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples[i] = _lrt(large.refit(responses[:, i]), small.refit(responses[:, i]))
    samples = np.maximum(samples, 0.0)
    p_boot = (1 + np.sum(samples >= observed)) / (1 + len(samples))
    table = pd.DataFrame({"stat": [observed, observed], "df": [df, np.nan],
                          "p.value": [stats.chi2.sf(observed, df), p_boot]}, index=["LRT", "PBtest"])
    table.attrs["samples"] = samples
    return table
