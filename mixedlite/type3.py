"""Type III hypotheses for the F-tests of an anova table, as lmerTest builds them.

With treatment contrasts, "the coefficients of term A are zero" depends on the coding when A
is contained in an interaction (e.g. ``recipe`` in ``recipe * temp``).  Type III hypotheses
do not.  lmerTest (``get_contrasts_type3``, ``extract_contrasts_type3``) builds them so:

1. the over-parameterised design rdX (every level of every factor in every term gets a column)
   is written in terms of the model's columns: ``L = (X^+ rdX)'``;
2. from the highest-order terms down, the columns of L belonging to a term that is contained
   in others (SAS's containment: all its variables appear in the other term, which has more,
   and both involve the same numeric covariates) are replaced by their residuals after
   regression on the columns of the containing terms;
3. term A's hypothesis matrix is the transpose of A's columns of L, restricted to the rows of
   the model's coefficients (non-zero rows only).

A model with a single term uses the type I (sequential) hypotheses of the Doolittle
decomposition of X'X, as lmerTest does.
"""
import numpy as np

from .formula import _fixed_term_labels, _order, as_factor, evaluate, is_factor, model_matrix


def _atoms(label):
    return label.split(":")


def zapsmall(x, digits=7):
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest entry."""
    largest = np.max(np.abs(x)) if np.size(x) else 0
    if largest > 0:
        digits = max(0, digits - int(np.ceil(np.log10(largest))))
    return np.round(x, digits)


def doolittle_lower(A, eps=1e-6):
    """The unit lower-triangular factor of lmerTest's Doolittle decomposition ``A = L U``."""
    n = A.shape[0]
    L, U = np.eye(n), np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            U[i, j] = A[i, j] - L[i, :i] @ U[:i, j]
        for j in range(i + 1, n):
            value = A[j, i] - L[j, :i] @ U[:i, i]
            L[j, i] = 0.0 if abs(U[i, i]) < eps else value / U[i, i]
    L[np.abs(L) < eps] = 0
    return L


def _column_terms(design, labels, intercept):
    """The term each column of X belongs to (R's ``assign``), found from the factor coding rules."""
    present = {()} if intercept else set()
    present |= {tuple(sorted(_atoms(label))) for label in labels}
    owners = ["(Intercept)"] if intercept else []
    for label in labels:
        count = 1
        for atom in _atoms(label):
            values = evaluate(atom, design.data)
            if is_factor(values):
                k = len(as_factor(values).cat.categories)
                rest = tuple(sorted(a for a in _atoms(label) if a != atom))
                count *= k if rest not in present else k - 1
        owners += [label] * count
    names = list(design.model_matrix(design.data).columns)
    if len(names) != len(owners):
        raise RuntimeError("could not match the columns of X to the terms of the formula")
    owner_of = dict(zip(names, owners))
    return [owner_of[name] for name in design.fixed_names]


def _containers(term, labels, numeric):
    """The terms that contain ``term`` (SAS's definition, lmerTest's ``term_contain``)."""
    a = set(_atoms(term))
    out = []
    for other in labels:
        b = set(_atoms(other))
        if a <= b and len(b - a) > 0 and {x for x in a if numeric[x]} == {x for x in b if numeric[x]}:
            out.append(other)
    return out


def type3_contrasts(design):
    """A dict term label -> hypothesis matrix (rows: contrasts, columns: the fixed effects)."""
    labels, intercept = _fixed_term_labels(design.formula.fixed)
    labels = sorted(labels, key=_order)
    X = design.X.to_numpy(dtype=float)
    if not labels or X.shape[1] == 0:
        return {}
    owners = np.array(_column_terms(design, labels, intercept))
    if X.shape[1] <= 1 or len(labels) <= 1:  # type I (sequential) hypotheses, as lmerTest
        if X.shape[1] == 1:
            L = np.ones((1, 1))
        else:
            L = doolittle_lower(X.T @ X).T
        return {label: L[owners == label] for label in labels}
    numeric = {}
    for label in labels:
        for atom in _atoms(label):
            values = evaluate(atom, design.data)
            numeric[atom] = not is_factor(values)
    blocks = [np.ones((design.n, 1))] if intercept else []
    names = ["(Intercept)"] if intercept else []
    for label in labels:
        full = model_matrix(f"0 + {label}", design.data)
        blocks.append(full.to_numpy(dtype=float))
        names += list(full.columns)
    rdX = np.hstack(blocks)
    L = zapsmall((np.linalg.pinv(X) @ rdX).T)  # rows: parameters of rdX, columns: columns of X
    for term in sorted(labels, key=_order, reverse=True):
        containers = _containers(term, labels, numeric)
        if containers:
            own, other = owners == term, np.isin(owners, containers)
            coef, *_ = np.linalg.lstsq(L[:, other], L[:, own], rcond=None)
            L[:, own] = zapsmall(L[:, own] - L[:, other] @ coef)
    unknown = [name for name in design.fixed_names if name not in names]
    if unknown:
        raise ValueError(f"type III tests need treatment contrasts, but X has columns {', '.join(unknown)} "
                         "(polynomial contrasts of an ordered factor?). Make the factor unordered first")
    rows = [names.index(name) for name in design.fixed_names]
    L = L[rows]
    out = {}
    for label in labels:
        Lt = L[:, owners == label].T
        out[label] = Lt[np.abs(Lt).sum(axis=1) > 1e-8]
    return out
