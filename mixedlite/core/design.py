"""From a formula and a DataFrame to the arrays of a mixed model: y, X and the random terms.

This is where bad input is caught, with messages that name the problem and the fix:
missing columns, missing values (rows dropped as lme4's ``na.omit`` does, with a warning
that says how many), formulas without a random term, and rank-deficient fixed effects
(columns dropped as lme4 does, with a warning that names them).

The design also keeps what new data need to be coded as the fitted data were (``state``:
factor levels, the centre and scale of ``scale(x)``, the coefficients of ``poly(x, k)``),
the contrasts, and the offset: ``offset(...)`` terms of the formula plus lme4's ``offset=``.
"""
import warnings

import numpy as np
import pandas as pd

from .formula import as_factor, evaluate, is_factor, model_matrix, parse_formula, used_variables
from .terms import RandomEffectsTerm, lme4_term_order


class Design:
    """The response, fixed-effects matrix, random-effects terms and offset of one model.

    Terms are ordered as lme4's ``mkReTrms`` orders them (by decreasing number of levels).
    ``contrasts``: lme4's ``contrasts=``, e.g. ``{"recipe": "sum"}``.  ``offset``: lme4's
    ``offset=``, a column name or one value per row, added to the ``offset(...)`` terms.
    """

    def __init__(self, formula, data, extra_columns=(), contrasts=None, offset=None):
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        self.formula_text = formula
        self.formula = parse_formula(formula)
        if not self.formula.random:
            raise ValueError(
                f"the formula {formula!r} has no random-effects term such as (1 | group). "
                "Add one, e.g. 'y ~ x + (1 | subject)'; a model without random effects is an "
                "ordinary regression (numpy.linalg.lstsq or statsmodels' ols).")
        data, self.offset_argument = _with_offset_column(data, offset)
        extra = list(extra_columns) + ([self.offset_argument] if offset is not None else [])
        self.data = _complete_cases(data, used_variables(self.formula, extra, data.columns))
        self.n = len(self.data)
        self.contrasts = dict(contrasts or {})
        self.state = {}
        fixed = self.model_matrix(self.data)
        self.X = _drop_aliased_columns(fixed)
        terms = [RandomEffectsTerm(t, self.data, self.state) for t in self.formula.random]
        self.terms = lme4_term_order(terms)
        self._theta_edges = np.cumsum([0] + [t.n_theta for t in self.terms])
        for term in self.terms:
            if term.n_levels < 2:
                raise ValueError(f"the grouping factor '{term.group}' has only {term.n_levels} level in the data: "
                                 "a random effect needs a factor with several sampled levels")
        self.offset = self.offset_on(self.data)

    def model_matrix(self, data):
        """The fixed-effects columns on ``data``, coded with this design's contrasts, levels and transforms."""
        return model_matrix(self.formula.fixed, data, contrasts=self.contrasts, state=self.state)

    @property
    def has_offset(self):
        return bool(self.formula.offsets) or self.offset_argument is not None

    def offset_on(self, data):
        """The summed offset on ``data``: each ``offset(expr)`` of the formula plus the ``offset=`` argument."""
        total = np.zeros(len(data))
        for expr in self.formula.offsets:
            try:
                total += np.asarray(evaluate(expr, data, self.state), dtype=float)
            except KeyError as missing:
                raise ValueError(f"offset({expr}) needs {missing.args[0]}: newdata must have the offset's "
                                 "columns") from None
        if self.offset_argument is not None:
            if data is not self.data and self.offset_argument == OFFSET_COLUMN:
                raise ValueError("this model has an offset, but the offset was given as an array: predictions "
                                 "for newdata need the offset's values. Fit with offset='column' (or offset(...) "
                                 "in the formula) and include that column in newdata")
            if self.offset_argument not in data:
                raise ValueError(f"this model has an offset, but newdata has no column '{self.offset_argument}': "
                                 "predictions for newdata need the offset's values")
            total += data[self.offset_argument].to_numpy(dtype=float)
        return total

    def response(self):
        """The response evaluated on the data (a column, a transform, or cbind(...))."""
        return evaluate(self.formula.response, self.data)

    @property
    def fixed_names(self):
        return list(self.X.columns)

    @property
    def theta_names(self):
        return [name for t in self.terms for name in t.theta_names]

    @property
    def theta_lower(self):
        return np.concatenate([t.theta_lower for t in self.terms])

    @property
    def theta_start(self):
        return np.concatenate([t.theta_start for t in self.terms])

    def split_theta(self, theta):
        """Cut the full theta vector into one piece per term."""
        edges = self._theta_edges
        return [theta[a:b] for a, b in zip(edges[:-1], edges[1:])]


def column_or_array(value, data, label):
    """A per-row argument (``weights=``, ``offset=``) given as a column name or one value per row of data."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            raise KeyError(f"{label} column {value!r} is not in the data; pass a column name or one value per row")
        return data[value]
    values = np.asarray(value, dtype=float)
    if values.shape != (len(data),):
        raise ValueError(f"{label} must have one value per row of data ({len(data)}), got shape {values.shape}")
    return pd.Series(values, index=data.index)


OFFSET_COLUMN = "(offset)"
WEIGHTS_COLUMN = "(weights)"  # where lmer's and glmer's ``weights=`` are kept, as lme4's model frame keeps them


def prior_weights(design):
    """The prior weights given to ``lmer(weights=)`` or ``glmer(weights=)``, or None without them."""
    return design.data[WEIGHTS_COLUMN].to_numpy(dtype=float) if WEIGHTS_COLUMN in design.data else None


def _with_offset_column(data, offset):
    """The data and the name of the column that holds lme4's ``offset=`` (an array becomes ``(offset)``)."""
    if offset is None or isinstance(offset, str):
        return data, offset
    return data.assign(**{OFFSET_COLUMN: column_or_array(offset, data, "offset")}), OFFSET_COLUMN


def _complete_cases(data, columns):
    """Check the columns exist and drop rows with a missing value in any of them (na.omit)."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"column {missing[0]!r} is not in the data; check the spelling in the formula. "
                       f"Available columns: {', '.join(map(str, data.columns))}")
    used = data[columns]
    incomplete = used.isna().to_numpy().any(axis=1)
    if not len(data):
        raise ValueError("the data has no rows: check the subset or filter that produced it")
    if incomplete.all():
        raise ValueError(_no_complete_rows_message(used))
    if incomplete.any():
        bad = [c for c in columns if used[c].isna().any()]
        warnings.warn(f"dropped {int(incomplete.sum())} of {len(data)} rows with missing values in "
                      f"{', '.join(bad)} (as lme4's na.omit); fill or remove them first to keep every row",
                      stacklevel=3)
    frame = used[~incomplete] if incomplete.any() else used.copy()
    for column in columns:  # factors keep only the levels that occur, as R's model.frame
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            if values.cat.codes.nunique() < len(values.cat.categories):
                frame[column] = values.cat.remove_unused_categories()
        elif is_factor(values):
            frame[column] = as_factor(values)
    return frame


def _no_complete_rows_message(used):
    """Every row has a missing value: name the columns that leave no row, and how many each misses."""
    counts = used.isna().sum()
    empty = [c for c in used.columns if counts[c] == len(used)]
    partly = [f"{c} ({counts[c]} of {len(used)} missing)" for c in used.columns if 0 < counts[c] < len(used)]
    if empty:
        cause = f"{', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no values at all"
        if partly:
            cause += f"; also missing: {', '.join(partly)}"
    else:
        cause = f"every row misses a value in one of {', '.join(partly)}"
    return (f"no rows are left after removing rows with missing values (as lme4's na.omit): {cause}. "
            "Fill in the missing values, or remove these variables from the formula")


def _drop_aliased_columns(X):
    """Drop columns that are linear combinations of earlier ones, as lme4 does, and say which."""
    values = X.to_numpy(dtype=float)
    if np.linalg.matrix_rank(values) == values.shape[1]:  # then so is every subset of its columns: keep all
        return X
    keep = []
    for j in range(values.shape[1]):
        candidate = keep + [j]
        if np.linalg.matrix_rank(values[:, candidate]) == len(candidate):
            keep.append(j)
    dropped = [c for j, c in enumerate(X.columns) if j not in keep]
    if dropped:
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} column(s): "
                      f"{', '.join(dropped)}. These predictors are linear combinations of others; "
                      "remove them from the formula to silence this", stacklevel=3)
    return X.iloc[:, keep]
