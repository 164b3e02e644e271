"""The hypothesis matrices L of lmerTest's anova tables: one ``L beta = 0`` per fixed-effects term.

A term's F-test is the joint test of the rows of its L (:mod:`mixedlite.inference.contest`).  Which rows,
is what the type of the table says (lmerTest's ``R/anova_contrasts.R``):

* **Type I** (sequential, ``get_contrasts_type1``): from the Doolittle decomposition
  ``X'X = L U`` (L unit lower-triangular); term A's rows of ``L'`` test A adjusted for the
  terms before it and ignoring those after it.
* **Type II** (``get_contrasts_type2_unfolded``): a term contained in no other term is tested by
  its own coefficients (``get_contrasts_marginal``: rows of the identity).  A term A contained in
  others is tested adjusted for everything except the terms that contain it: X is reordered to
  ``[unrelated, A, terms containing A]`` and A's type I rows are taken.
* **Type III** (``get_contrasts_type3``, ``extract_contrasts_type3``), independent of the coding:
  with X_t the design in treatment coding and rdX the over-parameterised design (every level of
  every factor of every term),

      L = (X_t^+ rdX)'        rows: rdX's parameters, columns: X_t's

  then, from the highest-order terms down, the columns of a term contained in others are replaced
  by their residuals after regression on the columns of the containing terms; term A's matrix is
  the transpose of A's columns (rows for X_t's coefficients, zero rows dropped), and is finally
  written in the model's own coding: ``L_A (X_t^+ X)``.

Containment is SAS's (lmerTest's ``term_contain``): A is contained in B when B has all of A's
variables and more, and both involve the same numeric covariates.  A model with a single term
(or a single column) gets type I hypotheses whatever the type, as lmerTest.
"""
import numpy as np

from ..core.formula import _fixed_term_labels, _order, as_factor, evaluate, is_factor, model_matrix

EPS = 1e-8  # lmerTest's tolerance for a zero row of a hypothesis matrix


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


def _type1_rows(X):
    """``t(doolittle(X'X)$L)``: row k tests column k adjusted for the columns before it."""
    return np.ones((1, 1)) if X.shape[1] == 1 else doolittle_lower(X.T @ X).T


# ------------------------------------------------------------------ terms, columns and containment

class FixedTerms:
    """The fixed-effects terms of a design: labels, their variables, and the term of each column of X."""

    def __init__(self, design):
        self.design = design
        labels, self.intercept = _fixed_term_labels(design.formula.fixed)
        self.labels = sorted(labels, key=_order)
        present = {()} if self.intercept else set()
        present |= {tuple(sorted(label.split(":"))) for label in self.labels}
        self._present = present
        self.numeric = {atom: not is_factor(evaluate(atom, design.data))
                        for label in self.labels for atom in label.split(":")}
        self.owners = np.array(self.column_owners(design.fixed_names))

    def variables(self, label):
        """The variables R's ``terms`` marks with 1 in a term (a variable coded by indicators in an
        interaction whose margin is absent gets 2 and is left out, as in lmerTest's ``get_vars``)."""
        atoms = label.split(":")
        if len(atoms) == 1:
            return set(atoms)
        return {a for a in atoms if tuple(sorted(b for b in atoms if b != a)) in self._present}

    def is_numeric(self, label):
        """Does the term involve a numeric covariate (lmerTest's ``numeric_terms``)?"""
        return any(self.numeric[a] for a in label.split(":"))

    def containers(self, label):
        """The terms that contain ``label`` (SAS's containment, lmerTest's ``containment``)."""
        a = self.variables(label)
        numeric_a = {x for x in a if self.numeric[x]}
        return [other for other in self.labels
                if a <= self.variables(other) and self.variables(other) - a
                and numeric_a == {x for x in self.variables(other) if self.numeric[x]}]

    def droppable(self):
        """R's ``drop.scope``: the terms whose variables are not all part of another term."""
        atoms = {label: set(label.split(":")) for label in self.labels}
        return [label for label in self.labels
                if not any(atoms[label] <= atoms[other] for other in self.labels if other != label)]

    def _column_counts(self):
        """The number of columns of each term in R's coding: k - 1 per factor coded by contrasts, k by
        indicators (when the term without that factor is absent), one per numeric variable."""
        counts = [("(Intercept)", 1)] if self.intercept else []
        for label in self.labels:
            count = 1
            for atom in label.split(":"):
                if not self.numeric[atom]:
                    k = len(as_factor(evaluate(atom, self.design.data)).cat.categories)
                    rest = tuple(sorted(a for a in label.split(":") if a != atom))
                    count *= k if rest not in self._present else k - 1
            counts.append((label, count))
        return counts

    def column_owners(self, names, full=None):
        """The term of each of the columns ``names`` of a full model matrix (R's ``assign``);
        ``full``: all its columns (default: the model's, before aliased columns were dropped)."""
        owners = [label for label, count in self._column_counts() for _ in range(count)]
        if full is None:
            if len(owners) == len(names):  # no aliased column dropped: X's own columns, whatever the coding
                return owners
            full = self.design.model_matrix(self.design.data).columns
        if len(full) != len(owners):
            raise RuntimeError("could not match the columns of X to the terms of the formula")
        owner_of = dict(zip(full, owners))
        unknown = [name for name in names if name not in owner_of]
        if unknown:
            raise ValueError(f"cannot tell which terms the columns {', '.join(unknown)} of X belong to: X is rank "
                             "deficient and not in R's default coding; remove the aliased terms from the formula")
        return [owner_of[name] for name in names]


def _rows_of_terms(L, terms):
    return {label: L[terms.owners == label] for label in terms.labels}


# ------------------------------------------------------------------ the three types

def contrasts_type1(design, terms=None):
    """lmerTest's ``get_contrasts_type1``: a dict term -> L (rows of the Doolittle factor)."""
    terms = terms or FixedTerms(design)
    X = design.X.to_numpy(dtype=float)
    if X.shape[1] == 0 or not terms.labels:
        return {}
    return _rows_of_terms(_type1_rows(X), terms)


def contrasts_marginal(design, labels, terms=None):
    """lmerTest's ``get_contrasts_marginal``: each term's own coefficients (rows of the identity)."""
    terms = terms or FixedTerms(design)
    identity = np.eye(len(design.fixed_names))
    return {label: identity[terms.owners == label] for label in labels}


def contrasts_type2(design):
    """lmerTest's ``get_contrasts_type2_unfolded``: marginal for terms contained in no other term,
    type I rows after ``[unrelated, term, containing terms]`` for the others."""
    terms = FixedTerms(design)
    X = design.X.to_numpy(dtype=float)
    if X.shape[1] <= 1 or len(terms.labels) <= 1:
        return contrasts_type1(design, terms)
    out = {}
    for label in terms.labels:
        containers = terms.containers(label)
        if not containers:
            out.update(contrasts_marginal(design, [label], terms))
            continue
        tested = np.flatnonzero(terms.owners == label)
        related = np.flatnonzero(np.isin(terms.owners, [label] + containers))
        others = np.setdiff1d(np.arange(X.shape[1]), related)
        tested_first = np.r_[tested, np.setdiff1d(related, tested)]  # unlist(term2colX[c(term, contained)])
        order = np.r_[others, tested_first]
        Lc = _type1_rows(X[:, order])
        rows = Lc[np.isin(order, tested)]
        L = np.zeros_like(rows)
        L[:, order] = rows
        out[label] = L
    return out


def contrasts_type3(design):
    """lmerTest's ``get_contrasts_type3``: a dict term -> L, in the model's own coding."""
    terms = FixedTerms(design)
    X = design.X.to_numpy(dtype=float)
    if X.shape[1] <= 1 or len(terms.labels) <= 1:
        return contrasts_type1(design, terms)
    data = _unordered(design.data)
    coding = TreatmentCoding(design, terms)
    Xt, owners_t = coding.Xt, coding.owners
    blocks = [np.ones((design.n, 1))] if terms.intercept else []
    blocks += [model_matrix(f"0 + {label}", data).to_numpy(dtype=float) for label in terms.labels]
    rdX = np.hstack(blocks)
    L = zapsmall((np.linalg.pinv(Xt) @ rdX).T)  # rows: rdX's parameters, columns: Xt's
    for label in sorted(terms.labels, key=_order, reverse=True):
        containers = terms.containers(label)
        if containers:
            own, other = owners_t == label, np.isin(owners_t, containers)
            coef, *_ = np.linalg.lstsq(L[:, other], L[:, own], rcond=None)
            L[:, own] = zapsmall(L[:, own] - L[:, other] @ coef)
    L = L[_rdX_rows_of(coding.names, terms, data)]
    out = {}
    for label in terms.labels:
        Lt = L[:, owners_t == label].T
        out[label] = Lt[np.abs(Lt).sum(axis=1) > EPS] @ coding.to_model
    return out


class TreatmentCoding:
    """The model's fixed effects in treatment coding (lmerTest's ``get_model_matrix(model, "remake",
    contrasts = "contr.treatment")`` made full rank), and the map to the model's own coding.

    With ``X = X_t M`` (same column space), ``beta_t = M beta`` and a contrast ``l_t`` on the treatment
    coefficients is ``l_t M`` on the model's, ``M = X_t^+ X`` (lmerTest's ``map``, which lmerTest
    rounds with ``zapsmall``; kept exact here, so poly and treatment codings give the same tests).
    """

    def __init__(self, design, terms):
        full = model_matrix(design.formula.fixed, _unordered(design.data))
        owners = np.array(terms.column_owners(list(full.columns), full.columns))
        self.keep = _independent_columns(full.to_numpy(dtype=float))
        self.full = full
        self.Xt, self.owners = full.to_numpy(dtype=float)[:, self.keep], owners[self.keep]
        self.names = list(full.columns[self.keep])
        self.to_model = np.linalg.pinv(self.Xt) @ design.X.to_numpy(dtype=float)


def _unordered(data):
    """The data with ordered factors made unordered: R's ``contrasts = "contr.treatment"`` remake."""
    data = data.copy()
    for column in data.columns:
        if getattr(data[column].dtype, "ordered", False):
            data[column] = data[column].cat.as_unordered()
    return data


def _independent_columns(X, tol=1e-7):
    """The columns kept by lmerTest's ``ensure_full_rank``: each that adds to the rank of those before."""
    keep = []
    for j in range(X.shape[1]):
        if np.linalg.matrix_rank(X[:, keep + [j]], tol=tol * max(1.0, np.abs(X).max())) == len(keep) + 1:
            keep.append(j)
    return keep


def _rdX_rows_of(names, terms, data):
    """Positions of X_t's coefficients among rdX's parameters (``L[colnames(X), ]``)."""
    params = (["(Intercept)"] if terms.intercept else []) + [
        name for label in terms.labels for name in model_matrix(f"0 + {label}", data).columns]
    missing = [name for name in names if name not in params]
    if missing:
        raise RuntimeError(f"type III hypotheses: columns {', '.join(missing)} are not parameters of the "
                           "over-parameterised design")
    return [params.index(name) for name in names]


CONTRASTS = {1: contrasts_type1, 2: contrasts_type2, 3: contrasts_type3}
