"""lmerTest's F-test tables of the fixed effects: ``anova(m, type=, ddf=)`` and ``drop1(m, ddf=)``.

Each row tests one term, ``L beta = 0`` with the term's hypothesis matrix L
(:mod:`mixedlite.inference.anova_contrasts`), by an F-test with Satterthwaite's or Kenward-Roger's
denominator df (:mod:`mixedlite.inference.contest`).  Columns ``Sum Sq, Mean Sq, NumDF, DenDF, F value,
Pr(>F)``, rows named by term; the hypothesis matrices are in ``table.attrs["hypotheses"]``
(lmerTest's ``show_tests``).
"""
import numpy as np

from .anova import AnovaTable
from .anova_contrasts import CONTRASTS, FixedTerms, contrasts_marginal
from .contest import F_COLUMNS, ddf_method, f_row

TYPES = {1: 1, 2: 2, 3: 3, "1": 1, "2": 2, "3": 3, "I": 1, "II": 2, "III": 3}
METHOD_NAMES = {"Satterthwaite": "Satterthwaite's", "Kenward-Roger": "Kenward-Roger's", "KR": "Kenward-Roger's"}


def _table(model, method, hypotheses):
    """One F row per term; terms without a testable column (all aliased) last, as NA rows (lmerTest)."""
    tested = {term: L for term, L in hypotheses.items() if len(L)}
    rows = {term: f_row(model, method, L) for term, L in tested.items()}
    rows.update({term: [np.nan] * len(F_COLUMNS) for term in hypotheses if term not in tested})
    if not rows:
        return AnovaTable(columns=F_COLUMNS, dtype=float)
    return AnovaTable.from_dict(rows, orient="index", columns=F_COLUMNS)


def anova_ddf(model, ddf="Satterthwaite", type=3):
    """lmerTest's ``anova(m, type=, ddf=)``: one F-test per fixed-effects term.

    ``type`` 1, 2 or 3 (or "I", "II", "III"): sequential, type II (each term adjusted for all terms
    that do not contain it) or type III (each term adjusted for all others, with hypotheses that do
    not depend on the contrast coding), as lmerTest builds them (:mod:`mixedlite.inference.anova_contrasts`).
    ``ddf="Satterthwaite"`` or ``"Kenward-Roger"`` (scaled F with pbkrtest's df; REML fits only).
    """
    if type not in TYPES:
        raise ValueError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'), not {type!r}")
    method = ddf_method(model, ddf)
    hypotheses = CONTRASTS[TYPES[type]](model.design)
    table = _table(model, method, hypotheses)
    roman = {1: "I", 2: "II", 3: "III"}[TYPES[type]]
    table.attrs["heading"] = f"Type {roman} Analysis of Variance Table with {METHOD_NAMES[ddf]} method"
    table.attrs["hypotheses"] = hypotheses
    return table


def drop1(model, ddf="Satterthwaite"):
    """lmerTest's ``drop1(m, ddf=)``: F-tests of the terms that can be dropped (marginality respected).

    A term can be dropped when no other term contains all its variables (R's ``drop.scope``:
    ``a`` cannot be dropped from ``a * b``, but ``a:b`` can).  Each is tested by its own
    coefficients being zero (lmerTest's ``get_contrasts_marginal``), which is the test of the model
    without the term against the model with it.
    """
    method = ddf_method(model, ddf)
    terms = FixedTerms(model.design)
    hypotheses = contrasts_marginal(model.design, terms.droppable(), terms)
    table = _table(model, method, hypotheses)
    table.attrs["heading"] = (f"Single term deletions using {METHOD_NAMES[ddf]} method:\n\nModel:\n"
                              f"{model.formula}")
    table.attrs["hypotheses"] = hypotheses
    return table
