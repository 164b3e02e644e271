"""Every plot draws on the Agg backend, returns its Axes or Figure, and labels its axes."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import mixedlite as ml
from mixedlite import plots
from mixedlite.course.widgets import pooling_table, simulate_clusters


@pytest.fixture(scope="module")
def sleep_fit():
    return ml.lmer("Reaction ~ Days + (Days | Subject)", ml.load_dataset("sleepstudy"))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def labelled(ax):
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def test_caterpillar_one_panel_per_term_sorted_with_intervals(sleep_fit):
    fig = plots.caterpillar(sleep_fit)
    assert isinstance(fig, matplotlib.figure.Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert axes[0].get_xlabel() == "conditional mode: (Intercept)"
    assert axes[0].get_ylabel() == "Subject"
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert len(labels) == 18
    intercepts = sleep_fit.ranef()["Subject"]["(Intercept)"]
    intercepts.index = intercepts.index.astype(str)
    assert list(intercepts.loc[labels]) == sorted(intercepts), "levels sorted by the intercept's mode"


def test_caterpillar_rejects_unknown_term(sleep_fit):
    with pytest.raises(ValueError, match="not random effects"):
        plots.caterpillar(sleep_fit, terms=["Hours"])
    with pytest.raises(ValueError, match="not a grouping factor"):
        plots.caterpillar(sleep_fit, grpvar="Item")


def test_residuals_vs_fitted_draws_every_observation(sleep_fit):
    ax = plots.residuals_vs_fitted(sleep_fit)
    assert labelled(ax)
    offsets = ax.collections[0].get_offsets()
    assert offsets.shape == (180, 2)
    np.testing.assert_allclose(offsets[:, 1], sleep_fit.residuals())


def test_qq_plots(sleep_fit):
    ax = plots.qq_residuals(sleep_fit)
    assert labelled(ax) and ax.get_xlabel() == "standard normal quantile"
    fig = plots.qq_ranef(sleep_fit)
    assert len(fig.axes) == 2 and all(labelled(a) for a in fig.axes)


def test_group_lines_one_panel_per_subject(sleep_fit):
    fig = plots.group_lines(sleep_fit, "Days")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 18
    assert visible[0].get_ylabel() == "Reaction"
    assert visible[-1].get_xlabel() == "Days"
    # the solid line of the first subject is its fitted line
    first = ml.load_dataset("sleepstudy")["Subject"].cat.categories[0]
    assert visible[0].get_title() == str(first)
    assert len(visible[0].lines) == 2


def test_diagnostic_panel(sleep_fit):
    fig = plots.diagnostic_panel(sleep_fit)
    assert len(fig.axes) == 4 and all(labelled(a) for a in fig.axes)


def test_shrinkage_plot_draws_a_line_per_cluster():
    table = pooling_table(simulate_clusters(5, 10, 20, seed=24), tau=5, sigma=10)
    ax = plots.shrinkage_plot(table, grand_mean=table.attrs["grand_mean"])
    assert ax.get_ylabel() == "estimated cluster mean"
    assert len(ax.lines) == len(table) + 1  # one per cluster and the grand mean
    assert len(ax.figure.axes) == 2  # and a colour bar for cluster size
