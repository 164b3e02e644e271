"""Likelihood-ratio tests between nested mixed models: lme4's ``anova(m0, m1)``.

For nested models fitted by maximum likelihood, twice the difference in log-likelihood

    Chisq = 2 (logLik(m1) - logLik(m0))

is compared with a chi-square distribution on ``Df = npar(m1) - npar(m0)`` degrees of
freedom.  REML log-likelihoods of models with different fixed effects are not comparable,
so REML fits are refitted by ML first, as lme4 does ("refitting model(s) with ML
(instead of REML)").

When the null model puts a variance on the boundary of its parameter space (testing
whether a random effect is needed at all), the chi-square reference is conservative.
The asymptotic null distribution is then the 50:50 mixture of chi-square distributions
on ``Df - 1`` and ``Df`` degrees of freedom (Self and Liang 1987; Stram and Lee 1994),
``0.5 P(chi2_{Df-1} > Chisq) + 0.5 P(chi2_Df > Chisq)``, with chi2_0 a point mass at 0.
For one variance (Df = 1) this is the "halve the p-value" rule.  Use
:func:`variance_test`, or ``anova(m0, m1, boundary=True)``.
"""
import numpy as np
import pandas as pd
from scipy import stats

from ..core.display import format_p, r_format, significance_stars, table_text
from ..core.model import require

REFIT_MESSAGE = "refitting model(s) with ML (instead of REML)"
COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


def check_same_data(models):
    """All models must be fitted mixed models of the same observations of the same response."""
    for model in models:
        require(model, "a likelihood-ratio test")
    sizes = [m.nobs for m in models]
    if len(set(sizes)) > 1:
        raise ValueError("models were not all fitted to the same size of dataset (nobs: "
                         f"{', '.join(map(str, sizes))}). Missing values in a variable used by only one model "
                         "drop different rows; fit every model to the same complete-case data")
    responses = [_response(m) for m in models]
    for m, y in zip(models[1:], responses[1:]):
        if not np.array_equal(y, responses[0]):
            raise ValueError(f"models were not all fitted to the same response: '{models[0].formula}' and "
                             f"'{m.formula}' have different observations; a likelihood-ratio test compares "
                             "models of the same data")


def _response(model):
    """The observations a model was fitted to; for a GLMM, y and its prior weights (the trials of
    cbind and proportion responses)."""
    if model.is_linear:
        return np.asarray(model.pls.y)
    return np.column_stack([model.resp.y, model.resp.wt])


def anova(*models, refit=True, names=None, boundary=False, quiet=False):
    """Likelihood-ratio tests of nested models, as lme4's ``anova(m0, m1, ...)``.

    Models are sorted by number of parameters and each is tested against the one above it.
    Returns a DataFrame with columns npar, AIC, BIC, logLik, deviance, Chisq, Df,
    Pr(>Chisq), rows named by ``names`` (default: the model formulas).

    ``refit=True`` (lme4's default) refits REML fits by maximum likelihood and prints
    lme4's note.  ``refit=False`` keeps REML fits: allowed only when all models have the
    same fixed effects (a test of variance components by restricted likelihood).
    ``boundary=True`` uses the 50:50 chi-square mixture for the p-values (see
    :func:`variance_test`): right when each larger model adds random-effect variances
    whose null value, zero, lies on the boundary.
    """
    if len(models) == 1 and isinstance(models[0], (list, tuple)):
        models = tuple(models[0])
    if len(models) < 2:
        raise ValueError("anova needs at least two fitted models to compare, e.g. anova(m0, m1)")
    check_same_data(models)
    if names is None:
        names = [m.formula for m in models]
        if len(set(names)) < len(names):
            names = [f"{n} [{i + 1}]" for i, n in enumerate(names)]
    elif len(names) != len(models) or len(set(names)) < len(names):
        raise ValueError(f"names must give {len(models)} distinct names, one per model")
    models = list(models)
    reml = [m.REML for m in models]
    if any(reml):
        if refit:
            if not quiet:
                print(REFIT_MESSAGE)
            models = [m.refit_ml() if r else m for m, r in zip(models, reml)]
        else:
            if not all(reml):
                raise ValueError("cannot compare REML and ML fits; use refit=True (refit all by ML)")
            X0 = models[0].design.X
            for m in models[1:]:
                X = m.design.X
                if X.shape != X0.shape or not np.allclose(X.to_numpy(), X0.to_numpy()):
                    raise ValueError("REML likelihoods of models with different fixed effects are not comparable: "
                                     "use refit=True (the default) to compare ML fits")
    npar = np.array([m.df for m in models])
    order = np.argsort(npar, kind="stable")
    models = [models[i] for i in order]
    names = [names[i] for i in order]
    npar = npar[order]
    loglik = np.array([m.loglik() for m in models])
    chisq = np.r_[np.nan, 2 * np.maximum(0, np.diff(loglik))]
    df = np.r_[np.nan, np.diff(npar)].astype(float)
    p = np.full(len(models), np.nan)
    for i in range(1, len(models)):
        if df[i] > 0:
            p[i] = mixture_pvalue(chisq[i], df[i]) if boundary else stats.chi2.sf(chisq[i], df[i])
    table = AnovaTable({"npar": npar, "AIC": [m.aic() for m in models], "BIC": [m.bic() for m in models],
                          "logLik": loglik, "deviance": -2 * loglik, "Chisq": chisq, "Df": df,
                          "Pr(>Chisq)": p}, index=pd.Index(names))
    table["npar"] = table["npar"].astype(int)
    if any(n != m.formula for n, m in zip(names, models)):
        table.attrs["heading"] = "Models:\n" + "\n".join(f"{n}: {m.formula}" for n, m in zip(names, models))
    if boundary:
        table.attrs["note"] = "p-values from the 50:50 mixture of chi-square(Df - 1) and chi-square(Df)"
    return table


class AnovaTable(pd.DataFrame):
    """A DataFrame that prints as R prints an anova table (5 significant digits, stars)."""

    @property
    def _constructor(self):
        return pd.DataFrame  # slices and arithmetic give plain DataFrames

    def __repr__(self):
        cells = pd.DataFrame(index=self.index)
        for column in self.columns:
            values = self[column].to_numpy(dtype=float)
            if column.startswith("Pr("):
                cells[column] = ["" if np.isnan(v) else format_p(v) for v in values]
                cells[" "] = ["" if np.isnan(v) else significance_stars(v) for v in values]
            elif column in ("npar", "Df", "NumDF"):
                cells[column] = ["" if np.isnan(v) else f"{v:g}" for v in values]
            else:
                cells[column] = r_format(values, 5)
        lines = [self.attrs["heading"]] if "heading" in self.attrs else []
        lines.append(table_text(cells))
        lines.append("---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        if "note" in self.attrs:
            lines.append(self.attrs["note"])
        return "\n".join(lines)

    __str__ = __repr__
    _repr_html_ = None  # notebooks show the R-style text

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self))


def mixture_pvalue(chisq, df):
    """``0.5 P(chi2_{df-1} > chisq) + 0.5 P(chi2_df > chisq)``; chi2_0 is a point mass at zero."""
    upper = stats.chi2.sf(chisq, df)
    lower = stats.chi2.sf(chisq, df - 1) if df > 1 else float(chisq <= 0)
    return 0.5 * upper + 0.5 * lower


def variance_test(m_small, m_large, refit=True, quiet=False):
    """Likelihood-ratio test of a variance component, with the boundary-corrected p-value.

    The null model ``m_small`` sets a random-effect variance (and any covariances that come
    with it) to zero, on the boundary of the parameter space, so the usual chi-square
    p-value is too large.  Returns a one-row DataFrame with Chisq, Df, the naive
    ``Pr(>Chisq)`` and ``Pr(mixture)``, the p-value from the 50:50 mixture of chi-square on
    Df - 1 and Df degrees of freedom (for one variance: half the naive p-value).

    ``refit=True`` compares ML fits (as ``anova``); with ``refit=False`` two REML fits with
    the same fixed effects are compared by their restricted likelihoods.
    """
    table = anova(m_small, m_large, refit=refit, quiet=quiet)
    chisq, df = table["Chisq"].iloc[1], table["Df"].iloc[1]
    if df < 1:
        raise ValueError("the two models have the same number of parameters: nothing to test")
    return pd.DataFrame({"Chisq": [chisq], "Df": [int(df)], "Pr(>Chisq)": [table["Pr(>Chisq)"].iloc[1]],
                         "Pr(mixture)": [mixture_pvalue(chisq, df)]}, index=[table.index[1]])
