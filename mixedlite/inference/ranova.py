"""Likelihood-ratio tests of the random-effects terms: lmerTest's ``ranova``.

Each random term ``(lhs | g)`` of the model (in lme4's ``findbars`` order) is reduced in turn and
the model refitted (by REML if the model was, by ML otherwise):

* a term with only an intercept, ``(1 | g)``, is removed: row ``"(1 | g)"``;
* a term with effects, ``(1 + x | g)`` or ``(x | g)``, loses each effect that R's ``drop.scope``
  allows (``x``: the term becomes ``(1 | g)``): row ``"x in (x | g)"``.

    LRT = 2 (logLik(model) - logLik(reduced)),     Df = npar(model) - npar(reduced)

with ``Pr(>Chisq)`` from the chi-square on Df degrees of freedom (conservative for variances on
their boundary: see :func:`mixedlite.variance_test`).  A reduced model without random terms is the
linear model, whose (restricted) log-likelihood is R's ``logLik.lm``:

    ML:    -n/2 (1 + log(2 pi RSS / n))
    REML:  -(n - p)/2 (1 + log(2 pi RSS / (n - p))) - log|R_X|     (R_X from the QR of X)

Columns ``npar, logLik, AIC, LRT, Df, Pr(>Chisq)``; the first row, ``<none>``, is the model itself.
"""
import re

import numpy as np
from scipy import stats

from .anova import AnovaTable
from ..core.design import WEIGHTS_COLUMN, Design
from ..core.formula import Formula, RandomTerm, _fixed_term_labels, parse_formula, split_top
from ..core.lmm import LinearMixedModel
from ..core.model import require

COLUMNS = ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"]


def deparse(term):
    """R's deparse of a random term: ``(1 + Days | Subject)``, one space around ``+``, ``-`` and ``|``."""
    pieces, operators = split_top(term.lhs, "+-")
    lhs = re.sub(r"\s+", " ", "".join(f" {op} {piece}" if op else piece for piece, op in zip(pieces, operators)))
    return f"({lhs} | {term.group})"


def reductions(term):
    """lmerTest's ``get_newforms`` for one term: a dict row name -> the replacement term (None: removed)."""
    labels, intercept = _fixed_term_labels(term.lhs)
    atoms = {label: set(label.split(":")) for label in labels}
    scope = [label for label in labels if not any(atoms[label] <= atoms[o] for o in labels if o != label)]
    if not scope:
        return {deparse(term): None}
    out = {}
    for dropped in scope:
        rest = [label for label in labels if label != dropped]
        lhs = "1" if not rest else " + ".join(rest) + ("" if intercept else " - 1")
        out[f"{dropped} in {deparse(term)}"] = RandomTerm(lhs, term.group)
    return out


def lm_loglik(y, X, REML, weights=None):
    """R's ``logLik.lm`` (REML or ML) and its number of parameters, p + 1.

    With prior weights w the model is fitted to ``sqrt(w) y`` and ``sqrt(w) X``, and the
    log-likelihood gains ``sum(log w) / 2`` (R's ``logLik.lm`` of a weighted fit)."""
    log_det_w = 0.0
    if weights is not None:
        sqrt_w = np.sqrt(weights)
        y, X, log_det_w = sqrt_w * y, sqrt_w[:, None] * X, np.sum(np.log(weights))
    n, p = X.shape
    if p:
        Q, R = np.linalg.qr(X)
        rss = np.sum((y - Q @ (Q.T @ y)) ** 2)
    else:
        R, rss = np.zeros((0, 0)), np.sum(y**2)
    if REML:
        nu = n - p
        return (-nu / 2 * (1 + np.log(2 * np.pi * rss / nu)) - np.sum(np.log(np.abs(np.diag(R))))
                + log_det_w / 2), p + 1
    return -n / 2 * (1 + np.log(2 * np.pi * rss / n)) + log_det_w / 2, p + 1


def _refit(model, random):
    """The model with these random terms, refitted to the same rows and the same X: (logLik, npar).

    The reduced model keeps the model's fixed-effects matrix as it is (its coding too: a REML
    log-likelihood depends on the parametrisation of X), and only its random part changes."""
    X = model.design.X
    if not random:
        return lm_loglik(model.pls.y, X.to_numpy(dtype=float), model.REML, model.pls.weights)
    formula = model.design.formula
    design = Design(str(Formula(formula.response, formula.fixed, tuple(random), formula.offsets)),
                    model.design.data, offset=model.design.offset_argument,
                    extra_columns=[WEIGHTS_COLUMN] if model.pls.weights is not None else ())
    design.X = X
    fit = LinearMixedModel(design, REML=model.REML).fit()
    return fit.loglik(), fit.df


def ranova(model, reduce_terms=True):
    """lmerTest's ``ranova(m, reduce.terms=)``: a likelihood-ratio test for removing or reducing each random term.

    Rows ``<none>`` (the model), then ``"(1 | g)"`` (term removed) or ``"x in (x | g)"`` (x removed
    from the term), as lmerTest names them; columns ``npar, logLik, AIC, LRT, Df, Pr(>Chisq)``.
    ``reduce_terms=False`` removes every term whole instead (rows ``"(x | g)"``).
    Each reduced model is refitted with the model's X and REML setting.
    """
    require(model, "ranova", "is_linear", fix="compare GLMMs with anova(m0, m1)")
    bars = parse_formula(model.formula).random  # lme4's findbars order
    rows = {"<none>": (model.loglik(), model.df)}
    for i, term in enumerate(bars):
        for name, replacement in (reductions(term) if reduce_terms else {deparse(term): None}).items():
            random = bars[:i] + bars[i + 1:] + ((replacement,) if replacement else ())
            unique = {}
            for t in random:  # R's update() merges equal terms
                unique.setdefault(deparse(t), t)
            rows[name] = _refit(model, list(unique.values()))
    loglik = np.array([ll for ll, _ in rows.values()])
    npar = np.array([k for _, k in rows.values()], dtype=float)
    lrt = np.r_[np.nan, 2 * (loglik[0] - loglik[1:])]
    df = np.r_[np.nan, npar[0] - npar[1:]]
    p = np.r_[np.nan, [stats.chi2.sf(x, d) if d > 0 else np.nan for x, d in zip(lrt[1:], df[1:])]]
    table = AnovaTable({"npar": npar.astype(int), "logLik": loglik, "AIC": -2 * loglik + 2 * npar, "LRT": lrt,
                        "Df": df, "Pr(>Chisq)": p}, index=list(rows))
    table.attrs["heading"] = ("ANOVA-like table for random-effects: Single term deletions\n\nModel:\n"
                              f"{model.design.formula}")
    return table
