"""Pictures of a fitted mixed model: the plots every chapter draws, with labelled axes.

Each function takes a fitted model (from :func:`mixedlite.lmer` or :func:`mixedlite.glmer`) and
draws with matplotlib (styled by seaborn).  Single-panel plots accept ``ax=`` and return the
Axes they drew on; multi-panel plots return the Figure.

========================  =====================================================================
``caterpillar``           conditional modes of the random effects with conditional-SD intervals
``residuals_vs_fitted``   residuals against fitted values: look for funnels and curves
``qq_residuals``          normal Q-Q plot of the residuals
``qq_ranef``              normal Q-Q plot of the conditional modes, one panel per term
``group_lines``           the data of each group with its fitted line (and the population line)
``diagnostic_panel``      the model-checking figure: the three checks above on one page
``shrinkage_plot``        per-cluster means: no pooling -> partial pooling, toward the grand mean
========================  =====================================================================
"""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["caterpillar", "residuals_vs_fitted", "qq_residuals", "qq_ranef", "group_lines",
           "diagnostic_panel", "shrinkage_plot"]

POINT_COLOR = "#1f77b4"
LINE_COLOR = "#d62728"


def _axes(ax, figsize=(5, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _first_group(model, grpvar):
    tidy = model.ranef(condVar=True)
    if grpvar is None:
        grpvar = tidy["grpvar"].iloc[0]
    elif grpvar not in set(tidy["grpvar"]):
        raise ValueError(f"{grpvar!r} is not a grouping factor of this model; it has {sorted(set(tidy['grpvar']))}")
    return tidy[tidy["grpvar"] == grpvar], grpvar


def caterpillar(model, grpvar=None, terms=None, level=0.95, axes=None):
    """Conditional modes of one grouping factor, sorted, with +- z * conditional SD bars.

    One panel per random-effect term (intercept, slope, ...), levels ordered by the first
    term's conditional mode (as lme4's ``dotplot(ranef(m, condVar = TRUE))``).  Returns the Figure.
    """
    tidy, grpvar = _first_group(model, grpvar)
    all_terms = list(dict.fromkeys(tidy["term"]))
    terms = all_terms if terms is None else list(terms)
    unknown = [t for t in terms if t not in all_terms]
    if unknown:
        raise ValueError(f"terms {unknown} are not random effects of {grpvar!r}; choose from {all_terms}")
    z = stats.norm.ppf(0.5 + level / 2)
    first = tidy[tidy["term"] == terms[0]].set_index("grp")["condval"]
    order = first.sort_values().index
    if axes is None:
        height = max(3.0, 0.22 * len(order) + 1.2)
        fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), height), sharey=True, squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    positions = np.arange(len(order))
    for ax, term in zip(axes, terms):
        rows = tidy[tidy["term"] == term].set_index("grp").loc[order]
        ax.errorbar(rows["condval"], positions, xerr=z * rows["condsd"], fmt="o", color=POINT_COLOR,
                    ecolor="0.5", elinewidth=1.2, capsize=0, markersize=4)
        ax.axvline(0, color="0.3", linestyle="--", linewidth=1)
        ax.set_xlabel(f"conditional mode: {term}")
        ax.set_title(f"{term} | {grpvar}")
    axes[0].set_yticks(positions)
    axes[0].set_yticklabels([str(g) for g in order])
    axes[0].set_ylabel(grpvar)
    fig.suptitle(f"Conditional modes with {level:.0%} intervals (+- {z:.2f} conditional SD)", fontsize=10)
    fig.tight_layout()
    return fig


def residuals_vs_fitted(model, ax=None, type="pearson"):
    """Residuals against fitted values, with a zero line: should look like stars in the sky."""
    ax = _axes(ax)
    fitted = np.asarray(model.fitted())
    resid = np.asarray(model.residuals(type=type))
    ax.scatter(fitted, resid, s=14, alpha=0.6, color=POINT_COLOR, edgecolor="none")
    ax.axhline(0, color=LINE_COLOR, linestyle="--", linewidth=1)
    ax.set_xlabel("fitted value")
    ax.set_ylabel(f"{type} residual")
    ax.set_title("Residuals vs fitted")
    return ax


def _qq(values, ax, title, ylabel):
    values = np.asarray(values, dtype=float)
    (theoretical, ordered), (slope, intercept, _) = stats.probplot(values, dist="norm")
    ax.scatter(theoretical, ordered, s=14, alpha=0.7, color=POINT_COLOR, edgecolor="none")
    ax.plot(theoretical, intercept + slope * theoretical, color=LINE_COLOR, linewidth=1)
    ax.set_xlabel("standard normal quantile")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def qq_residuals(model, ax=None):
    """Normal Q-Q plot of the residuals: points near the line mean roughly normal errors."""
    return _qq(model.residuals(), _axes(ax), "Q-Q plot of residuals", "sample quantile (residual)")


def qq_ranef(model, grpvar=None, axes=None):
    """Normal Q-Q plot of the conditional modes, one panel per term of one grouping factor.

    With fewer than about 20 levels, expect wobble: do not reject a model on this alone.
    Returns the Figure.
    """
    tidy, grpvar = _first_group(model, grpvar)
    terms = list(dict.fromkeys(tidy["term"]))
    if axes is None:
        fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), 3.8), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    for ax, term in zip(axes, terms):
        _qq(tidy.loc[tidy["term"] == term, "condval"], ax, f"Q-Q plot: {term} | {grpvar}", "conditional mode")
    fig.tight_layout()
    return fig


def group_lines(model, x, grpvar=None, data=None, col_wrap=6, population=True, height=1.9):
    """One small panel per group: its observations, its fitted line, and the population line.

    ``x`` names the predictor on the horizontal axis.  Fitted lines use the model's fitted values
    (fixed + random effects); the dashed population line sets the other random effects to zero
    (``predict(re_form="~0")``).  Returns the Figure.
    """
    data = model.design.data if data is None else data
    if grpvar is None:
        grpvar = model.design.terms[0].group
    response = model.design.formula.response
    frame = pd.DataFrame({"x": np.asarray(data[x], dtype=float), "y": np.asarray(model.design.response(), dtype=float),
                          "group": np.asarray(data[grpvar]), "fitted": np.asarray(model.fitted())})
    if population:
        frame["population"] = np.asarray(model.predict(re_form="~0"))
    groups = data[grpvar]
    levels = (list(groups.cat.categories) if isinstance(groups.dtype, pd.CategoricalDtype)
              else list(dict.fromkeys(frame["group"])))
    ncol = min(col_wrap, len(levels))
    nrow = int(np.ceil(len(levels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(height * 1.15 * ncol, height * nrow), sharex=True, sharey=True,
                             squeeze=False)
    for ax, level in zip(axes.flat, levels):
        part = frame[frame["group"] == level].sort_values("x")
        ax.scatter(part["x"], part["y"], s=10, color=POINT_COLOR, alpha=0.8, edgecolor="none")
        ax.plot(part["x"], part["fitted"], color=LINE_COLOR, linewidth=1.5)
        if population:
            ax.plot(part["x"], part["population"], color="0.4", linestyle="--", linewidth=1)
        ax.set_title(str(level), fontsize=9)
    for ax in axes.flat[len(levels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(x)
    for ax in axes[:, 0]:
        ax.set_ylabel(response)
    fig.suptitle(f"{response} by {x} for each {grpvar}: group fit (solid), population fit (dashed)", fontsize=10)
    fig.tight_layout()
    return fig


def diagnostic_panel(model, grpvar=None):
    """The model-checking page: residuals vs fitted, Q-Q of residuals, Q-Q of each random effect."""
    tidy, grpvar = _first_group(model, grpvar)
    n_terms = tidy["term"].nunique()
    fig, axes = plt.subplots(1, 2 + n_terms, figsize=(3.9 * (2 + n_terms), 3.6))
    residuals_vs_fitted(model, ax=axes[0])
    qq_residuals(model, ax=axes[1])
    qq_ranef(model, grpvar=grpvar, axes=axes[2:])
    fig.tight_layout()
    return fig


def shrinkage_plot(table, grand_mean=None, ax=None, size_column="n", label_sizes=None):
    """Per-cluster estimates moving from no pooling (left) to partial pooling (right).

    ``table`` has columns ``no_pooling`` and ``partial_pooling`` (one row per cluster) and a
    cluster-size column, as :func:`mixedlite.course.widgets.pooling_table` returns.  Line colour shows
    the cluster size (colour bar); ``label_sizes`` writes ``n=...`` beside each line (default:
    only when there are at most 12 clusters).  The dashed line is the grand mean.
    """
    ax = _axes(ax, figsize=(5, 4.5))
    sizes = np.asarray(table[size_column], dtype=float)
    label_sizes = len(table) <= 12 if label_sizes is None else label_sizes
    cmap = plt.get_cmap("viridis_r")
    lo, hi = sizes.min(), max(sizes.max(), sizes.min() + 1)
    norm = matplotlib.colors.Normalize(vmin=lo, vmax=hi)
    for (_, row), size in zip(table.iterrows(), sizes):
        ax.plot([0, 1], [row["no_pooling"], row["partial_pooling"]], color=cmap(norm(size)), marker="o",
                markersize=5, linewidth=1.3)
        if label_sizes:
            ax.annotate(f"n={int(size)}", (0, row["no_pooling"]), xytext=(-6, 0), textcoords="offset points",
                        ha="right", va="center", fontsize=7, color="0.35")
    colorbar = ax.figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
    colorbar.set_label("cluster size n")
    if grand_mean is not None:
        ax.axhline(grand_mean, color="0.3", linestyle="--", linewidth=1, label="grand mean")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_xlim(-0.45 if label_sizes else -0.15, 1.15)
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["no pooling\n(cluster mean)", "partial pooling\n(mixed model)"])
    ax.set_ylabel("estimated cluster mean")
    ax.set_title("Shrinkage toward the grand mean")
    return ax
