"""Interactive apps for the chapters: the maths in plain functions, the widgets a thin layer on top.

The plain functions (tested without a browser) come first:

* :func:`shrinkage_factor` -- how far a cluster mean is pulled toward the grand mean,
  ``tau^2 / (tau^2 + sigma^2 / n)``;
* :func:`simulate_clusters` -- a small seeded data set of clusters of unequal size;
* :func:`pooling_table` -- per cluster: size, no-pooling mean, partial-pooling estimate, shrinkage;
* :func:`design_effect_summary` -- design effect, effective sample size and SE inflation.

Then two apps, each a small class whose ``widget`` is an ipywidgets box (displaying the
object displays the box): :func:`shrinkage_app` and :func:`icc_design_effect_app`.  Their
``sliders`` dict holds the controls; setting a slider's ``value`` from Python recomputes
``result`` and the text in ``html`` exactly as dragging it in JupyterLab does.

ipywidgets is imported only when an app is built, so ``import mixedlite`` works without it.
"""
import warnings

import numpy as np
import pandas as pd

from ..core.diagnostics import design_effect, effective_sample_size

__all__ = ["shrinkage_factor", "simulate_clusters", "pooling_table", "design_effect_summary",
           "ShrinkageApp", "DesignEffectApp", "shrinkage_app", "icc_design_effect_app"]

# Relative cluster sizes of the shrinkage app: a few tiny clusters, a few large ones.
SIZE_PATTERN = np.array([0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.0, 1.0])


# ---------------------------------------------------------------------------- the maths

def shrinkage_factor(tau, sigma, n):
    """The weight a cluster's own mean gets in its partial-pooling estimate.

    With between-cluster SD ``tau``, residual SD ``sigma`` and ``n`` observations in the cluster,
    the conditional mode of a random intercept is ``k * (cluster mean - grand mean)`` with
    ``k = tau^2 / (tau^2 + sigma^2 / n)``: near 1 for big clusters or large ``tau``
    (little shrinkage), near 0 for small clusters or large ``sigma`` (strong shrinkage).
    """
    tau, sigma, n = (np.asarray(v, dtype=float) for v in (tau, sigma, n))
    if np.any(tau < 0) or np.any(sigma <= 0) or np.any(n < 1):
        raise ValueError("need tau >= 0, sigma > 0 and n >= 1 (a cluster has at least one observation)")
    return tau**2 / (tau**2 + sigma**2 / n)


def cluster_sizes(cluster_size, n_clusters=12):
    """Unequal cluster sizes: ``cluster_size`` scaled by a fixed pattern, at least 1 each."""
    pattern = np.resize(SIZE_PATTERN, n_clusters)
    return np.maximum(1, np.round(cluster_size * pattern)).astype(int)


def simulate_clusters(tau=5.0, sigma=10.0, cluster_size=20, n_clusters=12, grand_mean=50.0, seed=1):
    """Simulate ``y = grand_mean + u_j + e_ij`` with ``u_j ~ N(0, tau^2)``, ``e_ij ~ N(0, sigma^2)``.

    Clusters have unequal sizes (:func:`cluster_sizes`, the largest equal to ``cluster_size``).
    The standard-normal draws depend only on ``seed``, ``n_clusters`` and the largest size, so
    changing ``tau`` or ``sigma`` rescales the same data: an app's picture moves smoothly.
    Returns a DataFrame with columns ``cluster`` (categorical "C01", ...) and ``y``.
    """
    if n_clusters < 2:
        raise ValueError("need at least two clusters to see pooling")
    sizes = cluster_sizes(cluster_size, n_clusters)
    rng = np.random.default_rng(seed)
    z_cluster = rng.standard_normal(n_clusters)
    z_noise = rng.standard_normal((n_clusters, max(int(cluster_size), 1)))
    labels = [f"C{j + 1:02d}" for j in range(n_clusters)]
    cluster = np.repeat(labels, sizes)
    y = np.concatenate([grand_mean + tau * z_cluster[j] + sigma * z_noise[j, :sizes[j]] for j in range(n_clusters)])
    return pd.DataFrame({"cluster": pd.Categorical(cluster, categories=labels), "y": y})


def pooling_table(data, tau=None, sigma=None, response="y", group="cluster"):
    """No pooling vs partial pooling, one row per cluster.

    With ``tau`` and ``sigma`` given, the partial-pooling estimates use those (known) variance
    components; otherwise a random-intercept model ``response ~ 1 + (1 | group)`` is fitted
    by REML and its estimates are used, as in practice.  Columns: ``n``, ``no_pooling``
    (the cluster's own mean), ``shrinkage`` (the factor k), ``partial_pooling`` (grand mean +
    k * (own mean - grand mean)).  ``table.attrs`` holds ``grand_mean``, ``tau``, ``sigma``,
    and ``singular`` (True when the fitted tau is zero: complete pooling).
    """
    grouped = data.groupby(group, observed=True)[response]
    table = pd.DataFrame({"n": grouped.size(), "no_pooling": grouped.mean()})
    singular = False
    if tau is None or sigma is None:
        from ..core.lmm import lmer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a singular fit is the point to show, reported in attrs
            model = lmer(f"{response} ~ 1 + (1 | {group})", data)
        vc = model.varcorr()
        tau = float(vc["sdcor"].iloc[0])
        sigma = float(model.sigma)
        singular = model.is_singular()
        grand = float(model.fixef().iloc[0])
    else:
        weights = 1.0 / (tau**2 + sigma**2 / table["n"]) if tau > 0 else table["n"]
        grand = float(np.sum(weights * table["no_pooling"]) / np.sum(weights))
    table["shrinkage"] = shrinkage_factor(tau, sigma, table["n"])
    table["partial_pooling"] = grand + table["shrinkage"] * (table["no_pooling"] - grand)
    table.attrs.update(grand_mean=grand, tau=tau, sigma=sigma, singular=singular)
    return table


def design_effect_summary(n_clusters=100, cluster_size=10, icc=0.3):
    """What clustering costs: a dict with the nominal n, design effect, effective n and SE inflation.

    ``design_effect = 1 + (K - 1) ICC``; ``effective_n = n / design_effect``;
    ``se_inflation = sqrt(design_effect)``, the factor by which naive standard errors are too small.
    """
    if not 0 <= icc <= 1:
        raise ValueError(f"the ICC is a proportion of variance, between 0 and 1; got {icc}")
    if cluster_size < 1 or n_clusters < 1:
        raise ValueError("cluster_size and n_clusters must be at least 1")
    n_total = int(n_clusters) * int(cluster_size)
    deff = float(design_effect(cluster_size, icc))
    return {"n_clusters": int(n_clusters), "cluster_size": int(cluster_size), "icc": float(icc),
            "n_total": n_total, "design_effect": deff,
            "effective_n": float(effective_sample_size(n_total, cluster_size, icc)),
            "se_inflation": float(np.sqrt(deff))}


# ---------------------------------------------------------------------------- the apps

def _in_kernel():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


class _App:
    """Shared plumbing: sliders -> ``update`` -> (``html`` text, figure in ``output``)."""

    def __init__(self, sliders):
        import ipywidgets as w
        self.sliders = sliders
        self.html = w.HTML()
        self.output = w.Output(layout=w.Layout(min_height="360px"))
        for slider in sliders.values():
            slider.layout = w.Layout(width="480px")
        self.widget = w.VBox([w.VBox(list(sliders.values())), self.html, self.output])
        self.result = None
        self.figure = None
        for slider in sliders.values():
            slider.observe(self.update, names="value")
        self.update()

    def values(self):
        return {name: slider.value for name, slider in self.sliders.items()}

    def update(self, change=None):
        import matplotlib.pyplot as plt
        from IPython.display import display
        self.result = self.compute(**self.values())
        self.html.value = self.describe(self.result)
        if self.figure is not None:
            plt.close(self.figure)
        self.figure = self.draw(self.result)
        if _in_kernel():  # outside a kernel (plain Python, tests) there is nowhere to draw
            with self.output:
                self.output.clear_output(wait=True)
                display(self.figure)
        plt.close(self.figure)  # drawn once, into the Output widget; keep inline backends from repeating it

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class ShrinkageApp(_App):
    """Sliders for tau, sigma and the largest cluster size; each move simulates and refits."""

    def __init__(self, tau=5.0, sigma=10.0, cluster_size=20, n_clusters=12, seed=24, refit=True):
        import ipywidgets as w
        self.n_clusters, self.seed, self.refit = n_clusters, seed, refit
        style = {"description_width": "170px"}
        sliders = {
            "tau": w.FloatSlider(value=tau, min=0.0, max=15.0, step=0.5, description="between-cluster SD tau",
                                 style=style, continuous_update=False),
            "sigma": w.FloatSlider(value=sigma, min=1.0, max=30.0, step=1.0, description="residual SD sigma",
                                   style=style, continuous_update=False),
            "cluster_size": w.IntSlider(value=cluster_size, min=2, max=60, step=1, description="largest cluster",
                                        style=style, continuous_update=False),
        }
        super().__init__(sliders)

    def compute(self, tau, sigma, cluster_size):
        data = simulate_clusters(tau, sigma, cluster_size, self.n_clusters, seed=self.seed)
        if self.refit:
            return pooling_table(data)
        return pooling_table(data, tau=tau, sigma=sigma)

    def describe(self, table):
        a = table.attrs
        smallest, largest = table.loc[table["n"].idxmin()], table.loc[table["n"].idxmax()]
        note = (" <b>Singular fit: tau estimated as 0, every cluster collapses onto the grand mean.</b>"
                if a["singular"] else "")
        truth = self.values()
        return (f"Simulated with tau = {truth['tau']:.1f}, sigma = {truth['sigma']:.1f}. "
                f"Estimated tau = {a['tau']:.2f}, sigma = {a['sigma']:.2f}, grand mean = {a['grand_mean']:.2f}. "
                f"Shrinkage factor k = tau&sup2; / (tau&sup2; + sigma&sup2;/n): "
                f"{smallest['shrinkage']:.2f} for the smallest cluster (n = {int(smallest['n'])}), "
                f"{largest['shrinkage']:.2f} for the largest (n = {int(largest['n'])}).{note}")

    def draw(self, table):
        import matplotlib.pyplot as plt
        from .plots import shrinkage_plot
        fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4.2), gridspec_kw={"width_ratios": [1.2, 1]})
        shrinkage_plot(table, grand_mean=table.attrs["grand_mean"], ax=left)
        n_grid = np.arange(1, max(int(table["n"].max()), 2) + 1)
        a = table.attrs
        if a["tau"] > 0:
            right.plot(n_grid, shrinkage_factor(a["tau"], a["sigma"], n_grid), color="0.4", linewidth=1)
        right.scatter(table["n"], table["shrinkage"], color="#d62728", zorder=3, s=20)
        right.set_ylim(-0.03, 1.03)
        right.set_xlabel("cluster size n")
        right.set_ylabel("shrinkage factor k (weight on own mean)")
        right.set_title("Small clusters borrow more strength")
        fig.tight_layout()
        return fig


class DesignEffectApp(_App):
    """Sliders for the ICC and the cluster size; shows design effect, effective n, SE inflation."""

    def __init__(self, n_clusters=100, cluster_size=10, icc=0.3):
        import ipywidgets as w
        self.n_clusters = n_clusters
        style = {"description_width": "170px"}
        sliders = {
            "icc": w.FloatSlider(value=icc, min=0.0, max=1.0, step=0.01, description="ICC", style=style,
                                 continuous_update=False),
            "cluster_size": w.IntSlider(value=cluster_size, min=1, max=100, step=1, description="cluster size K",
                                        style=style, continuous_update=False),
        }
        super().__init__(sliders)

    def compute(self, icc, cluster_size):
        return design_effect_summary(self.n_clusters, cluster_size, icc)

    def describe(self, s):
        return (f"{s['n_clusters']} clusters of {s['cluster_size']} = {s['n_total']} observations. "
                f"Design effect 1 + (K - 1) ICC = <b>{s['design_effect']:.2f}</b>; "
                f"effective sample size = <b>{s['effective_n']:.1f}</b>; "
                f"naive standard errors are too small by a factor of <b>{s['se_inflation']:.2f}</b>.")

    def draw(self, s):
        import matplotlib.pyplot as plt
        fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8))
        grid = np.linspace(0, 1, 101)
        left.plot(grid, np.sqrt(design_effect(s["cluster_size"], grid)), color="0.3")
        left.scatter([s["icc"]], [s["se_inflation"]], color="#d62728", zorder=3)
        left.set_xlabel("ICC")
        left.set_ylabel("SE inflation sqrt(design effect)")
        left.set_title(f"Clusters of size K = {s['cluster_size']}")
        right.bar(["nominal n", "effective n"], [s["n_total"], s["effective_n"]], color=["0.6", "#1f77b4"])
        right.set_ylabel("number of observations")
        right.set_title("What the data are worth")
        fig.tight_layout()
        return fig


def shrinkage_app(tau=5.0, sigma=10.0, cluster_size=20, n_clusters=12, seed=24, refit=True):
    """Partial pooling, live: move tau, sigma or the cluster size and watch cluster means shrink.

    Each move simulates ``n_clusters`` clusters of unequal size (seeded), fits
    ``y ~ 1 + (1 | cluster)`` (``refit=False`` uses the true tau and sigma instead) and plots each
    cluster's own mean against its partial-pooling estimate, with the shrinkage factors.
    """
    return ShrinkageApp(tau, sigma, cluster_size, n_clusters, seed, refit)


def icc_design_effect_app(n_clusters=100, cluster_size=10, icc=0.3):
    """Sliders for the ICC and cluster size: design effect, effective sample size and SE inflation."""
    return DesignEffectApp(n_clusters, cluster_size, icc)
