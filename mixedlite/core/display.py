"""The printed summary, laid out as lme4's ``summary(m)`` (and lmerTest's, with df and p-values)."""
import math

import numpy as np
import pandas as pd


def r_format(values, digits):
    """Format numbers with one common number of decimals, as R's ``format(x, digits=)``.

    Each number needs the fewest significant digits (at most ``digits``) that show it to
    ``digits`` significant digits; the column uses the most decimals any number needs.
    """
    values = np.asarray(values, dtype=float)
    decimals = 0
    for x in values[np.isfinite(values) & (values != 0)]:
        magnitude = math.floor(math.log10(abs(x)))
        target = round(x, digits - 1 - magnitude)
        for sig in range(1, digits + 1):
            if math.isclose(round(x, sig - 1 - magnitude), target, rel_tol=1e-12, abs_tol=0):
                break
        decimals = max(decimals, sig - 1 - magnitude)
    decimals = min(max(decimals, 0), 15)
    return ["" if np.isnan(x) else f"{x:.{decimals}f}" for x in values]


def format_p(p):
    """R's ``format.pval``: small p-values as ``<2e-16``, others with 3 significant digits."""
    if p < 2.2e-16:
        return "<2e-16"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def significance_stars(p):
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


def abbreviate(name, minlength=6):
    """R's ``abbreviate``: drop lower-case vowels, then lower-case letters, from the right."""
    chars = list(name)
    for letters in ("aeiou", "abcdefghijklmnopqrstuvwxyz"):
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            if chars[i] in letters and not chars[i - 1].isspace():
                del chars[i]
            i -= 1
    return "".join(chars[: max(minlength, 0)]) if len(chars) > minlength else "".join(chars)


def table_text(frame, index_header=""):
    """A right-aligned text table of string cells, row names left-aligned."""
    names = [str(i) for i in frame.index]
    width0 = max([len(index_header)] + [len(n) for n in names])
    columns = []
    for c in frame.columns:
        cells = [str(v) for v in frame[c]]
        columns.append((str(c), max([len(str(c))] + [len(v) for v in cells]), cells))
    lines = [index_header.ljust(width0) + "".join(" " + h.rjust(w) for h, w, _ in columns)]
    for r, name in enumerate(names):
        lines.append(name.ljust(width0) + "".join(" " + cells[r].rjust(w) for _, w, cells in columns))
    return "\n".join(lines)


def random_effects_text(varcorr, variance=True):
    """The "Random effects:" block: Groups, Name, Variance, Std.Dev., Corr."""
    sd_rows = varcorr[varcorr["var2"].isna()]
    variances = r_format(sd_rows["vcov"], 4)
    sds = r_format(sd_rows["sdcor"], 4)
    rows, previous = [], None
    correlations = varcorr[varcorr["var2"].notna()]
    for k, (_, row) in enumerate(sd_rows.iterrows()):
        corr = correlations[(correlations["grp"] == row["grp"]) & (correlations["var2"] == row["var1"])]
        rows.append([row["grp"] if row["grp"] != previous else "", row["var1"] if pd.notna(row["var1"]) else "",
                     variances[k], sds[k], " ".join(f"{c:5.2f}" for c in corr["sdcor"])])
        previous = row["grp"]
    header = ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
    if not variance:
        header, rows = header[:2] + header[3:], [r[:2] + r[3:] for r in rows]
    if not any(r[-1] for r in rows):
        header, rows = header[:-1], [r[:-1] for r in rows]
    for i in range(2, len(header)):  # numbers right-aligned among themselves, then under the header
        width = max(len(r[i]) for r in rows)
        for r in rows:
            r[i] = r[i].rjust(width)
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = [" " + " ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in [header] + rows]
    return "\n".join(lines)


def coefficient_text(coefficients):
    """The "Fixed effects:" table with lme4's number formats and significance stars."""
    table = pd.DataFrame(index=coefficients.index)
    se = coefficients["Std. Error"].to_numpy()
    decimals = len(r_format(se, 4)[0].split(".")[-1]) if "." in r_format(se, 4)[0] else 0
    table["Estimate"] = [f"{x:.{decimals}f}" for x in coefficients["Estimate"]]
    table["Std. Error"] = [f"{x:.{decimals}f}" for x in se]
    p_column = next((c for c in coefficients.columns if c.startswith("Pr(")), None)
    for column in coefficients.columns[2:]:
        if column == p_column:
            table[column] = [format_p(p) for p in coefficients[column]]
            table[""] = [significance_stars(p) for p in coefficients[column]]
        else:
            table[column] = r_format(coefficients[column], 4 if column != "df" else 5)
    text = table_text(table)
    if p_column:
        text += "\n---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"
    return text


def correlation_text(vcov):
    """The "Correlation of Fixed Effects:" lower triangle, abbreviated names."""
    sd = np.sqrt(np.diag(vcov))
    corr = vcov.to_numpy() / np.outer(sd, sd)
    names = [abbreviate(n) for n in vcov.columns]
    rows = []
    for i in range(1, len(names)):
        rows.append([f"{corr[i, j]:.3f}" for j in range(i)] + [""] * (len(names) - 1 - i))
    frame = pd.DataFrame(rows, index=[abbreviate(n, 11) for n in vcov.index[1:]], columns=names[:-1])
    return table_text(frame)


def residual_quantiles_text(scaled):
    q = np.quantile(scaled, [0, 0.25, 0.5, 0.75, 1])
    q = np.round(q, max(0, 5 - math.ceil(math.log10(np.abs(q).max()))))  # R's zapsmall(q, 5)
    cells = r_format(q, 4)
    width = max(len(c) for c in cells + ["Median"])
    return ("Scaled residuals: \n" + " ".join(h.rjust(width) for h in ["Min", "1Q", "Median", "3Q", "Max"])
            + " \n" + " ".join(c.rjust(width) for c in cells) + " ")


def information_criteria_text(model):
    """The AIC, BIC, logLik, deviance, df.resid line of ML fits."""
    values = [model.aic(), model.bic(), model.loglik(), -2 * model.loglik(), model.nobs - model.df]
    cells = [f"{v:.1f}" for v in values[:4]] + [str(values[4])]
    width = max(8, max(len(c) for c in cells))
    return (" ".join(h.rjust(width) for h in ["AIC", "BIC", "logLik", "deviance", "df.resid"]) + " \n"
            + " ".join(c.rjust(width) for c in cells) + " ")


def groups_text(model):
    groups = "; ".join(f"{g}, {n}" for g, n in model.ngrps.items())
    return f"Number of obs: {model.nobs}, groups:  {groups}"


def format_summary(model, header, table, scaled_residuals):
    """lme4's summary layout: the header lines, then the scaled residuals, random effects,
    fixed effects (``table``; left out when there are none), their correlations and any
    convergence messages."""
    lines = header + ["", residual_quantiles_text(scaled_residuals), "", "Random effects:",
                      random_effects_text(model.varcorr()), groups_text(model)]
    if len(model.beta):  # a model without fixed effects (y ~ 0 + (x | g)) has no table, as lme4
        lines += ["", "Fixed effects:", coefficient_text(table)]
    if 1 < len(model.beta) <= 12:
        lines += ["", "Correlation of Fixed Effects:", correlation_text(model.vcov())]
    lines += list(model.convergence)
    return Summary("\n".join(lines), table)


class Summary:
    """A printable model summary; ``.coefficients`` is the fixed-effects table as a DataFrame."""

    def __init__(self, text, coefficients):
        self.text = text
        self.coefficients = coefficients

    def __str__(self):
        return self.text

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.text)
