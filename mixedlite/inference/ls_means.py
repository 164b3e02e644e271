"""Least-squares means of factor terms and their pairwise differences: lmerTest's ``ls_means``.

The LS-mean of a level is the model's prediction averaged over a balanced grid (lmerTest's
``lsmeans_contrasts``): the grid crosses every level of every factor of the fixed effects and sets
each numeric covariate to its mean.  With U the fixed-effects rows of the grid and A the grid's
indicator matrix of the term's levels,

    L = diag(1 / colSums(A)) A' U,          LS-mean = L beta

so each level's mean weights the other factors' levels equally, however unbalanced the data.
U is built in treatment coding and L mapped to the model's coding (``L M``, ``M = X_t^+ X``:
:class:`mixedlite.inference.anova_contrasts.TreatmentCoding`), so any contrasts give the same means.
Pairwise differences use ``l_i - l_j`` for every pair i < j (lmerTest's ``get_pairs``; rows
``"recipeA - recipeB"``).  Each row is tested as in :func:`mixedlite.inference.contest` with ``joint=False``:
columns ``Estimate, Std. Error, df, t value, lower, upper, Pr(>|t|)``.  A level whose mean is not
estimable (an empty cell) gets NA, as in lmerTest.
"""
import itertools

import numpy as np
import pandas as pd
import scipy.linalg as la

from .anova import AnovaTable
from .anova_contrasts import FixedTerms, TreatmentCoding
from .contest import T_COLUMNS, ddf_method, t_row
from ..core.formula import as_factor, evaluate, model_matrix

ESTIMABLE_TOL = np.sqrt(np.finfo(float).eps)


def _grid(design, terms):
    """lmerTest's ``get_min_data``: every combination of factor levels (unordered: indicators and
    treatment coding), numeric variables at their mean."""
    levels, means = {}, {}
    for atom, numeric in terms.numeric.items():
        values = evaluate(atom, design.data)
        if numeric:
            means[atom] = float(np.mean(np.asarray(values, dtype=float)))
        else:
            levels[atom] = as_factor(values).cat.categories
    combinations = list(itertools.product(*levels.values()))
    grid = pd.DataFrame({atom: pd.Categorical([c[i] for c in combinations], categories=categories)
                         for i, (atom, categories) in enumerate(levels.items())},
                        index=pd.RangeIndex(len(combinations)))
    for atom, mean in means.items():
        grid[atom] = mean
    return grid


def ls_means_contrasts(design, term):
    """The LS-means contrast matrix of ``term`` (rows named as lmerTest's: ``recipeA``, ``recipeA:temp175``)."""
    terms = FixedTerms(design)
    factor_terms = [label for label in terms.labels if not terms.is_numeric(label)]
    if term not in terms.labels:
        raise ValueError(f"{term!r} is not a fixed-effects term of the model; choose from: "
                         f"{', '.join(factor_terms) or '(no factor terms)'}")
    if term not in factor_terms:
        raise ValueError(f"least-squares means are for factor terms, but {term!r} involves a numeric variable; "
                         f"choose from: {', '.join(factor_terms) or '(no factor terms)'}, or use contest() with "
                         "your own contrast")
    grid = _grid(design, terms)
    coding = TreatmentCoding(design, terms)
    U = model_matrix(design.formula.fixed, grid)[coding.full.columns].to_numpy(dtype=float)
    indicators = model_matrix(f"0 + {term}", grid)
    A = indicators.to_numpy(dtype=float)
    L_treatment = (A / A.sum(axis=0)).T @ U
    L = L_treatment[:, coding.keep] @ coding.to_model
    L[~_is_estimable(L_treatment, coding.full.to_numpy(dtype=float))] = np.nan
    return pd.DataFrame(L, index=indicators.columns, columns=design.fixed_names)


def _is_estimable(L, X):
    """lmerTest's ``is_estimable``: ``l`` is estimable when it is orthogonal to the null space of X."""
    N = la.null_space(X, rcond=ESTIMABLE_TOL)
    if N.size == 0:
        return np.ones(len(L), dtype=bool)
    return np.abs((L @ N).sum(axis=1)) < ESTIMABLE_TOL


def pairwise_differences(L):
    """lmerTest's ``get_pairs``: ``l_i - l_j`` for every pair of rows i < j, named ``"a - b"``."""
    pairs = list(itertools.combinations(range(len(L)), 2))
    values = np.array([L.iloc[i].to_numpy() - L.iloc[j].to_numpy() for i, j in pairs]).reshape(len(pairs), -1)
    return pd.DataFrame(values, index=[f"{L.index[i]} - {L.index[j]}" for i, j in pairs], columns=L.columns)


def ls_means(model, term=None, pairwise=False, ddf="Satterthwaite", level=0.95):
    """lmerTest's ``ls_means(m, which, pairwise=, ddf=, level=)``: LS-means of a factor term.

    ``term``: a factor term of the fixed effects (``"recipe"``, ``"recipe:temperature"``); None
    gives every factor term, one block of rows after the other.  ``pairwise=True`` tests every
    pairwise difference instead (lmerTest's ``difflsmeans``).  Columns ``Estimate, Std. Error, df,
    t value, lower, upper, Pr(>|t|)``; the contrasts are in ``table.attrs["hypotheses"]``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    method = ddf_method(model, ddf)
    if term is None:
        terms = FixedTerms(model.design)
        chosen = [label for label in terms.labels if not terms.is_numeric(label)]
    else:
        chosen = [term] if isinstance(term, str) else list(term)
    hypotheses = {}
    for label in chosen:
        L = ls_means_contrasts(model.design, label)
        hypotheses[label] = pairwise_differences(L) if pairwise else L
    rows, names = [], []
    for L in hypotheses.values():
        for name, row in L.iterrows():
            row = row.to_numpy()
            rows.append([np.nan] * len(T_COLUMNS) if np.isnan(row).any() else t_row(method, row, 0.0, level))
            names.append(name)
    table = AnovaTable(rows, index=names, columns=T_COLUMNS, dtype=float)
    table.attrs["heading"] = "Least Squares Means table:\n"
    table.attrs["note"] = f"\n  Confidence level: {100 * level:g}%\n  Degrees of freedom method: {ddf}"
    table.attrs["hypotheses"] = hypotheses
    return table
