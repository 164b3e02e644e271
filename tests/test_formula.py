"""The formula language: expansion, model-matrix columns with R's names, grouping factors."""
import numpy as np
import pandas as pd
import pytest

import mixedlite as ml
from mixedlite.formula import grouping_factor, model_matrix, parse_formula, polynomial_contrasts


# lme4's findbars: nested terms innermost first, named as expandSlash names them (c:(b:a), not c:b:a)
@pytest.mark.parametrize("formula, explicit", [
    ("y ~ x + (1 | site/subject)", "y ~ x + (1 | subject:site) + (1 | site)"),
    ("y ~ x + (1 + x || g)", "y ~ x + (1 | g) + (0 + x | g)"),
    ("y ~ x + (x || g)", "y ~ x + (1 | g) + (0 + x | g)"),
    ("y ~ 1 + (1 | a/b/c)", "y ~ 1 + (1 | c:(b:a)) + (1 | b:a) + (1 | a)"),
    ("y ~ x + offset(log(t)) + (1 | g)", "y ~ x + offset(log(t)) + (1 | g)"),
    ("y ~ x + (1 | s) + (1 | i)", "y ~ x + (1 | s) + (1 | i)"),
    ("y ~ x + (0 + x | g)", "y ~ x + (0 + x | g)"),
])
def test_expand_formula(formula, explicit):
    assert ml.expand_formula(formula) == explicit


def test_random_terms_are_parsed():
    f = parse_formula("Reaction ~ Days + (1 + Days | Subject) + (1 | Batch:Cask)")
    assert f.response == "Reaction" and f.fixed == "Days"
    assert [(t.lhs, t.group) for t in f.random] == [("1 + Days", "Subject"), ("1", "Batch:Cask")]


def test_treatment_contrasts_use_r_names():
    cbpp = ml.load_dataset("cbpp")
    assert list(model_matrix("period", cbpp).columns) == ["(Intercept)", "period2", "period3", "period4"]


def test_interactions_crossing_and_nesting():
    cake = ml.load_dataset("cake")
    columns = list(model_matrix("recipe * temp", cake).columns)
    assert columns == ["(Intercept)", "recipeB", "recipeC", "temp", "recipeB:temp", "recipeC:temp"]
    assert list(model_matrix("recipe:temp", cake).columns) == ["(Intercept)", "recipeA:temp", "recipeB:temp",
                                                                "recipeC:temp"]
    assert list(model_matrix("recipe/temp", cake).columns) == list(model_matrix("recipe + recipe:temp", cake).columns)
    X = model_matrix("recipe * temp", cake)
    b = (cake["recipe"] == "B").to_numpy()
    np.testing.assert_array_equal(X["recipeB:temp"], np.where(b, cake["temp"], 0.0))


def test_no_intercept_gives_every_level():
    cbpp = ml.load_dataset("cbpp")
    for text in ("0 + period", "-1 + period", "period - 1"):
        assert list(model_matrix(text, cbpp).columns) == ["period1", "period2", "period3", "period4"], text


def test_transforms_are_evaluated():
    d = pd.DataFrame({"x": [1.0, 2.0, 4.0, 8.0]})
    X = model_matrix("x + I(x^2) + log(x) + scale(x)", d)
    assert list(X.columns) == ["(Intercept)", "x", "I(x^2)", "log(x)", "scale(x)"]
    np.testing.assert_allclose(X["I(x^2)"], d.x**2)
    np.testing.assert_allclose(X["log(x)"], np.log(d.x))
    np.testing.assert_allclose(X["scale(x)"], (d.x - d.x.mean()) / d.x.std())


def test_ordered_factors_get_polynomial_contrasts():
    # R's contr.poly(4): linear and quadratic columns
    np.testing.assert_allclose(polynomial_contrasts(4)[:, 0], [-0.6708204, -0.2236068, 0.2236068, 0.6708204], atol=1e-7)
    np.testing.assert_allclose(polynomial_contrasts(4)[:, 1], [0.5, -0.5, -0.5, 0.5], atol=1e-12)
    cake = ml.load_dataset("cake")
    assert list(model_matrix("temperature", cake).columns)[:3] == ["(Intercept)", "temperature.L", "temperature.Q"]


def test_interaction_grouping_factor_uses_r_level_order():
    pastes = ml.load_dataset("Pastes")
    g = grouping_factor("cask:batch", pastes)
    assert list(g.cat.categories[:4]) == ["a:A", "a:B", "a:C", "a:D"]
    assert len(g.cat.categories) == 30


def test_string_and_boolean_columns_become_factors():
    d = pd.DataFrame({"group": ["b", "a", "b", "c"], "flag": [True, False, True, True], "y": [1.0, 2, 3, 4]})
    assert list(model_matrix("group + flag", d).columns) == ["(Intercept)", "groupb", "groupc", "flagTRUE"]


def test_r_names_with_dots_are_columns():
    d = pd.DataFrame({"total.fruits": [1.0, 3.0, 7.0]})
    X = model_matrix("log(1 + total.fruits)", d)
    assert list(X.columns) == ["(Intercept)", "log(1 + total.fruits)"]
    np.testing.assert_allclose(X.iloc[:, 1], np.log1p(d["total.fruits"]))


def test_fitted_model_keeps_ordered_factor_contrasts():
    m = ml.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", ml.load_dataset("cake"))
    assert list(m.fixef().index[:5]) == ["(Intercept)", "recipeB", "recipeC", "temperature.L", "temperature.Q"]


def test_predictions_on_newdata_keep_ordered_factor_contrasts():
    cake = ml.load_dataset("cake")
    m = ml.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", cake)
    rows = [0, 7, 50, 200]
    as_strings = cake.iloc[rows].astype({"temperature": str, "recipe": str, "replicate": str})
    for newdata in (cake.iloc[rows], as_strings):
        np.testing.assert_allclose(m.predict(newdata), m.fitted().iloc[rows], rtol=1e-12)
