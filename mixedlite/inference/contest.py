"""Tests of linear functions of the fixed effects: lmerTest's ``contest``, ``contest1D`` and ``contestMD``.

For a contrast matrix L (one row per linear function of beta) and a right-hand side ``rhs``:

* **joint** (``contestMD``): the F-test of ``L beta = rhs``.  With Satterthwaite's method
  ``F = (L b - rhs)' (L C L')^-1 (L b - rhs) / q`` on q numerator df and the denominator df of
  :func:`mixedlite.inference.satterthwaite.f_statistic_df`; with Kenward-Roger's, pbkrtest's scaled F with the
  adjusted covariance (REML fits only).  The table has lmerTest's columns ``Sum Sq, Mean Sq, NumDF,
  DenDF, F value, Pr(>F)`` with ``Mean Sq = F sigma^2`` (for Kenward-Roger the unscaled F) and
  ``Sum Sq = q Mean Sq``.
* **one row at a time** (``contest1D``): ``t = (l b - rhs) / SE(l b)`` with Satterthwaite's or
  Kenward-Roger's df, and the Wald interval ``l b -+ t_{df, (1+level)/2} SE``: columns
  ``Estimate, Std. Error, df, t value, lower, upper, Pr(>|t|)``.
"""
import numpy as np
import pandas as pd
from scipy import stats

from .anova import AnovaTable
from .kenward_roger import kenward_roger
from ..core.model import require
from .satterthwaite import satterthwaite

F_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
T_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "lower", "upper", "Pr(>|t|)"]
DDF_METHODS = ("Satterthwaite", "Kenward-Roger")


def ddf_method(model, ddf):
    """The Satterthwaite or Kenward-Roger machinery of a model (lmerTest's ``ddf=`` argument)."""
    require(model, f"ddf={ddf!r} (denominator degrees of freedom)", "is_linear",
            fix="GLMM coefficients are tested with z-tests in summary()")
    if ddf == "Satterthwaite":
        return satterthwaite(model)
    if ddf in ("Kenward-Roger", "KR"):
        return kenward_roger(model)
    raise ValueError(f"ddf must be one of {', '.join(map(repr, DDF_METHODS))}, not {ddf!r}")


def f_row(model, method, L, rhs=0.0):
    """One row of an anova-like table for ``L beta = rhs`` (lmerTest's ``contestMD``)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[0] == 0:
        return [np.nan] * len(F_COLUMNS)
    q, df, F, p = method.f_test(L, rhs)
    mean_sq = (method.wald_f(L, rhs) if method.f_is_scaled else F) * model.sigma**2
    return [q * mean_sq, mean_sq, q, df, F, p]


def t_row(method, L, rhs=0.0, level=0.95):
    """One row of a t-table for ``l beta = rhs`` with its confidence interval (lmerTest's ``contest1D``)."""
    estimate, se, df, t, p = method.t_test(np.asarray(L, dtype=float), rhs)
    half = stats.t.ppf((1 + level) / 2, df) * se
    return [estimate, se, df, t, estimate - half, estimate + half, p]


def contrast_matrix(model, L):
    """L as a 2-D array with one column per fixed effect; a DataFrame's columns are matched by name."""
    names = list(model.design.fixed_names)
    if isinstance(L, pd.DataFrame):
        unknown = [c for c in L.columns if c not in names]
        if unknown:
            raise ValueError(f"L has columns {', '.join(map(str, unknown))} that are not fixed effects of the model; "
                             f"name them from: {', '.join(names)}")
        L = L.reindex(columns=names, fill_value=0.0)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.ndim != 2 or L.shape[1] != len(names):
        raise ValueError(f"L has {L.shape[-1]} columns but the model has {len(names)} fixed effects "
                         f"({', '.join(names)}): give one coefficient per fixed effect, in this order")
    if not np.all(np.isfinite(L)):
        raise ValueError("L has missing or infinite entries; every coefficient of a contrast must be a number")
    return L


def contest(model, L, joint=True, ddf="Satterthwaite", rhs=0.0, level=0.95):
    """lmerTest's ``contest(m, L, joint=, ddf=, rhs=)``: test linear functions ``L beta`` of the fixed effects.

    ``joint=True``: one F-test of all rows of L together (``L beta = rhs``), a one-row table with
    the columns of :func:`mixedlite.anova_ddf`.  ``joint=False``: one t-test per row of L (``Estimate,
    Std. Error, df, t value, lower, upper, Pr(>|t|)``, ``level`` for the interval).  L is an array with
    one column per fixed effect (a vector is one row), or a DataFrame whose columns name fixed effects.
    ``ddf="Kenward-Roger"`` needs a REML fit, as in lmerTest.
    """
    index = list(L.index) if isinstance(L, pd.DataFrame) else None
    L = contrast_matrix(model, L)
    rhs = np.asarray(rhs, dtype=float)
    if rhs.ndim > 1 or rhs.size not in (1, L.shape[0]):
        raise ValueError(f"rhs must be one number or one per row of L ({L.shape[0]}), got {rhs.size}")
    rhs = np.broadcast_to(rhs, (L.shape[0],))
    method = ddf_method(model, ddf)
    if joint:
        return AnovaTable([f_row(model, method, L, rhs)], columns=F_COLUMNS)
    rows = [t_row(method, row, value, level) for row, value in zip(L, rhs)]
    return AnovaTable(rows, columns=T_COLUMNS, index=index)
