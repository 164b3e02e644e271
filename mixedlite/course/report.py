"""Writing up a fitted mixed model: APA-style numbers and a results paragraph built from the fit.

The paragraph is a starting point, not a finished text: it states what was fitted, the effect of
one predictor with its test, the variance components, the ICC, the convergence status and,
optionally, a likelihood-ratio comparison.  Every number in it comes from the model object,
so it cannot drift from the analysis.

    >>> text = apa_paragraph(m, "therapy_sessions", response="anxiety", group_noun="clinic")  # doctest: +SKIP
"""
import numpy as np
import pandas as pd
from scipy import stats

from ..core.diagnostics import icc as _icc

__all__ = ["apa_p", "apa_r", "fixed_effect_stats", "random_structure", "apa_paragraph"]


def apa_p(p):
    """A p-value as APA writes it: ``p < .001``, else three decimals without the leading zero."""
    if not 0 <= p <= 1:
        raise ValueError(f"a p-value lies between 0 and 1, got {p}")
    if p < 0.001:
        return "p < .001"
    return "p = " + f"{p:.3f}".lstrip("0")


def apa_r(value, digits=2):
    """A number bounded by 1 (a correlation, an ICC) without its leading zero: ``.55``, ``-.20``."""
    text = f"{value:.{digits}f}"
    return text.replace("0.", ".", 1) if abs(value) < 1 else text


def fixed_effect_stats(model, term, ddf="Satterthwaite", level=0.95):
    """Estimate, SE, df, t (or z), p and confidence interval of one fixed effect, as a dict.

    ``ddf="Satterthwaite"`` or ``"Kenward-Roger"``: t-test with approximate denominator df and a
    t-based interval.  ``ddf=None``: Wald z-test and interval (df is NaN).
    """
    names = list(model.fixef().index)
    if term not in names:
        raise KeyError(f"{term!r} is not a fixed effect of this model; it has {names}")
    if ddf is None or not model.is_linear:
        estimate = float(model.fixef()[term])
        se = float(np.sqrt(model.vcov().loc[term, term]))
        statistic, df = estimate / se, np.nan
        p = 2 * stats.norm.sf(abs(statistic))
        half = stats.norm.ppf(0.5 + level / 2) * se
    else:
        row = model.summary(ddf=ddf).coefficients.loc[term]
        estimate, se, df = float(row["Estimate"]), float(row["Std. Error"]), float(row["df"])
        statistic, p = float(row["t value"]), float(row["Pr(>|t|)"])
        half = stats.t.ppf(0.5 + level / 2, df) * se
    return {"term": term, "estimate": estimate, "se": se, "df": df, "statistic": statistic, "p": p,
            "lower": estimate - half, "upper": estimate + half, "level": level, "ddf": ddf}


def random_structure(model):
    """Describe the random-effects terms in words, e.g. 'correlated random intercepts and slopes
    for therapy_sessions by clinic'."""
    vc = model.varcorr()
    vc = vc[vc["grp"] != "Residual"]
    by_factor = {}
    for grp, rows in vc.groupby("grp", sort=False):
        factor = grp.split(".")[0] if grp.split(".")[-1].isdigit() else grp
        variances = rows[rows["var2"].isna()]
        correlated = len(rows) > len(variances)
        by_factor.setdefault(factor, []).append((list(variances["var1"]), correlated))
    phrases = []
    for factor, blocks in by_factor.items():
        effects = [name for names, _ in blocks for name in names]
        slopes = [e for e in effects if e != "(Intercept)"]
        parts = (["intercepts"] if "(Intercept)" in effects else []) + (
            [f"slopes for {', '.join(slopes)}"] if slopes else [])
        kind = ""
        if len(effects) > 1:
            kind = "correlated " if any(c for _, c in blocks) else "uncorrelated "
        phrases.append(f"{kind}random {' and '.join(parts)} by {factor}")
    return "; ".join(phrases)


def _number(x):
    """Two decimals for numbers of 1 or more, three significant digits for small ones (0.0763)."""
    return f"{x:.2f}" if abs(x) >= 1 or x == 0 else f"{x:.3g}"


def _variance_sentence(model, group_noun):
    vc = model.varcorr()
    parts = []
    for _, row in vc.iterrows():
        if row["grp"] == "Residual":
            continue
        if pd.isna(row["var2"]):
            what = "intercepts" if row["var1"] == "(Intercept)" else f"slopes for {row['var1']}"
            parts.append(f"{what} SD = {_number(row['sdcor'])} (variance {_number(row['vcov'])})")
        else:
            parts.append(f"correlation r = {apa_r(row['sdcor'])}")
    text = f"Between-{group_noun} variation: " + ", ".join(parts)
    if model.has_residual_variance:
        text += f"; residual SD = {_number(model.sigma)} (variance {_number(model.sigma**2)})"
    return text + "."


def apa_paragraph(model, term, response=None, group_noun=None, ddf="Satterthwaite", comparison=None,
                  software="mixedlite"):
    """A results paragraph in APA style, every number taken from ``model``.

    ``term``: the fixed effect to report.  ``response`` and ``group_noun``: words for the outcome
    and the clusters (default: the column names).  ``comparison``: an :func:`mixedlite.inference.anova`
    table whose last row tests this model against a simpler one (reported as chi-square).
    """
    response = response or model.design.formula.response
    factor = model.design.terms[0].group
    group_noun = group_noun or factor
    method = "REML" if model.REML else "maximum likelihood"
    n_groups = model.ngrps[factor]
    s = fixed_effect_stats(model, term, ddf=ddf)
    if np.isnan(s["df"]):
        test = f"z = {s['statistic']:.2f}, {apa_p(s['p'])}"
        df_note = "Wald z-tests"
    else:
        test = f"t({s['df']:.1f}) = {s['statistic']:.2f}, {apa_p(s['p'])}"
        df_note = f"t-tests with {ddf} degrees of freedom"
    direction = "an increase" if s["estimate"] > 0 else "a decrease"
    sentences = [
        f"A linear mixed model of {response} with {term} as a fixed effect and {random_structure(model)} "
        f"was fitted by {method} ({software}) to {model.nobs} observations from {n_groups} {group_noun}s.",
        f"Each one-unit increase in {term} was associated with {direction} of {abs(s['estimate']):.2f} in "
        f"{response} on average, b = {s['estimate']:.2f}, SE = {s['se']:.2f}, {test}, "
        f"{s['level']:.0%} CI [{s['lower']:.2f}, {s['upper']:.2f}] ({df_note}).",
        _variance_sentence(model, group_noun),
    ]
    try:
        value = float(_icc(model))
        slopes = any(t.p > 1 or t.names != ["(Intercept)"] for t in model.design.terms)
        name = "adjusted intraclass correlation (averaged over the data)" if slopes else "intraclass correlation"
        sentences.append(f"The {name} was {apa_r(value, 3)}: {value:.1%} of the variance lay "
                         f"between {group_noun}s.")
    except ValueError:
        pass
    if comparison is not None:
        last = pd.DataFrame(comparison).iloc[-1]
        p = float(last["Pr(>Chisq)"])
        verdict = "fitted significantly better than" if p < 0.05 else "did not fit significantly better than"
        sentences.append(f"In a likelihood-ratio test this model {verdict} the simpler model, "
                         f"\u03c7\u00b2({int(last['Df'])}) = {last['Chisq']:.2f}, {apa_p(p)}.")
    problems = list(model.convergence)
    sentences.append("The fit converged without warnings and was not singular." if not problems else
                     "The fit raised warnings (" + "; ".join(problems) + "); these must be resolved before reporting.")
    return " ".join(sentences)
