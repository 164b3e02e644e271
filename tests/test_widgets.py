"""The widget maths as plain functions, and the apps driven headless by setting slider values."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mixedlite import widgets as W

pytest.importorskip("ipywidgets")


# ---------------------------------------------------------------- plain functions

def test_shrinkage_factor_closed_form():
    assert W.shrinkage_factor(5, 10, 4) == pytest.approx(25 / (25 + 100 / 4))
    assert W.shrinkage_factor(0, 10, 50) == 0.0
    k = W.shrinkage_factor(5, 10, np.array([1, 5, 20, 1000]))
    assert np.all(np.diff(k) > 0), "bigger clusters shrink less"
    assert k[-1] == pytest.approx(1, abs=0.01)
    assert W.shrinkage_factor(2, 10, 10) < W.shrinkage_factor(8, 10, 10), "more between-cluster variance, less shrinkage"


def test_shrinkage_factor_rejects_impossible_inputs():
    with pytest.raises(ValueError, match="sigma > 0"):
        W.shrinkage_factor(1, 0, 5)
    with pytest.raises(ValueError):
        W.shrinkage_factor(1, 1, 0)


def test_simulate_clusters_is_seeded_with_unequal_sizes():
    a = W.simulate_clusters(5, 10, 20, n_clusters=12, seed=3)
    b = W.simulate_clusters(5, 10, 20, n_clusters=12, seed=3)
    assert a.equals(b)
    sizes = a.groupby("cluster", observed=True).size()
    assert len(sizes) == 12 and sizes.max() == 20 and sizes.min() < 5
    # same draws rescaled: doubling tau and sigma doubles deviations from the grand mean
    c = W.simulate_clusters(10, 20, 20, n_clusters=12, seed=3)
    np.testing.assert_allclose(c["y"] - 50, 2 * (a["y"] - 50))


def test_pooling_table_known_components_match_formula():
    data = W.simulate_clusters(4, 8, 16, seed=5)
    table = W.pooling_table(data, tau=4, sigma=8)
    grand = table.attrs["grand_mean"]
    k = 16 / (16 + 64 / table["n"])
    np.testing.assert_allclose(table["shrinkage"], k)
    np.testing.assert_allclose(table["partial_pooling"], grand + k * (table["no_pooling"] - grand))
    # every estimate lies between its own mean and the grand mean
    lo = np.minimum(table["no_pooling"], grand)
    hi = np.maximum(table["no_pooling"], grand)
    assert np.all((table["partial_pooling"] >= lo - 1e-12) & (table["partial_pooling"] <= hi + 1e-12))


def test_pooling_table_fitted_matches_lmer_conditional_modes():
    import mixedlite as ml
    data = W.simulate_clusters(5, 10, 20, seed=24)
    table = W.pooling_table(data)
    m = ml.lmer("y ~ 1 + (1 | cluster)", data)
    blups = m.coef()["cluster"]["(Intercept)"]
    np.testing.assert_allclose(table["partial_pooling"].to_numpy(), blups.to_numpy(), rtol=1e-6)
    assert table.attrs["tau"] == pytest.approx(5, rel=0.1)


def test_design_effect_summary_matches_the_text():
    s = W.design_effect_summary(n_clusters=20, cluster_size=30, icc=0.3)  # practice test question 5
    assert s["n_total"] == 600
    assert s["design_effect"] == pytest.approx(9.7)
    assert s["effective_n"] == pytest.approx(61.86, abs=0.01)
    assert s["se_inflation"] == pytest.approx(np.sqrt(9.7))
    s = W.design_effect_summary(n_clusters=100, cluster_size=10, icc=0.6)  # the blood-pressure question
    assert s["effective_n"] == pytest.approx(156.25)
    with pytest.raises(ValueError, match="between 0 and 1"):
        W.design_effect_summary(10, 10, 1.5)


# ---------------------------------------------------------------- apps, headless

def test_shrinkage_app_reacts_to_every_slider():
    app = W.shrinkage_app()
    assert list(app.sliders) == ["tau", "sigma", "cluster_size"]
    first_text, first_table = app.html.value, app.result.copy()
    assert "Shrinkage factor" in first_text
    seen = {first_text}
    for name, value in [("tau", 10.0), ("sigma", 4.0), ("cluster_size", 6)]:
        app.sliders[name].value = value
        assert app.html.value not in seen, f"moving {name} did not change the text"
        seen.add(app.html.value)
    assert not app.result["partial_pooling"].equals(first_table["partial_pooling"])
    assert app.result["n"].max() == 6
    assert app.figure is not None and app.figure.axes[0].get_ylabel() == "estimated cluster mean"


def test_shrinkage_app_reports_singular_fit_when_tau_is_zero():
    app = W.shrinkage_app()
    app.sliders["tau"].value = 0.0
    assert app.result.attrs["singular"]
    assert "Singular fit" in app.html.value
    np.testing.assert_allclose(app.result["partial_pooling"], app.result.attrs["grand_mean"])


def test_shrinkage_app_smaller_clusters_shrink_more():
    app = W.shrinkage_app(refit=False)
    table = app.result.sort_values("n")
    assert table["shrinkage"].is_monotonic_increasing
    assert table["shrinkage"].iloc[0] < table["shrinkage"].iloc[-1]


def test_design_effect_app_reacts_to_every_slider():
    app = W.icc_design_effect_app(n_clusters=100, cluster_size=10, icc=0.3)
    assert app.result["design_effect"] == pytest.approx(3.7)
    assert "3.70" in app.html.value
    app.sliders["icc"].value = 0.6
    assert app.result["effective_n"] == pytest.approx(156.25)
    assert "156.2" in app.html.value
    app.sliders["cluster_size"].value = 1
    assert app.result["design_effect"] == pytest.approx(1.0)
    assert "1.00" in app.html.value
    assert app.figure.axes[0].get_xlabel() == "ICC"


def test_apps_display_as_their_widget_box():
    app = W.icc_design_effect_app()
    bundle = app._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_import_mixedlite_does_not_import_ipywidgets():
    import subprocess
    import sys
    code = "import sys, mixedlite; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
