"""The formula language: expansion, model-matrix columns with R's names, grouping factors."""
import numpy as np
import pandas as pd
import pytest

import mixedlite as ml
from mixedlite.core.formula import grouping_factor, model_matrix, parse_formula, polynomial_contrasts


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


# ---------------------------------------------------------------- lme4's names and term order


def test_nested_groups_are_named_as_lme4():
    from mixedlite.core.formula import expand_group, group_parts
    assert expand_group("a/b/c") == ["c:(b:a)", "b:a", "a"]
    assert expand_group("a/b/c/d")[0] == "d:(c:(b:a))"
    assert group_parts("c:(b:a)") == ["c", "b", "a"]
    d = pd.DataFrame({"a": list("xxyy"), "b": list("pqpq"), "c": list("mnmn")})
    assert list(grouping_factor("c:(b:a)", d).cat.categories) == list(grouping_factor("c:b:a", d).cat.categories)


def test_terms_are_ordered_as_lme4_orders_them():
    """mkReTrms: the written order unless a term has more levels than one before it; then
    rev(order(levels)), so that ties come in reverse formula order (theta and a, a.1 follow)."""
    from mixedlite.core.terms import lme4_term_order

    class Term:
        def __init__(self, name, n_levels):
            self.name, self.n_levels = name, n_levels

    def order(*levels):
        return [t.name for t in lme4_term_order([Term(i, n) for i, n in enumerate(levels)])]

    assert order(6, 6, 6, 3) == [0, 1, 2, 3]  # never increasing: kept as written
    assert order(3, 6, 6) == [2, 1, 0]
    assert order(3, 3, 12) == [2, 1, 0]  # (1 + x || a) + (1 | g): a's x term before its intercept


def test_coef_puts_random_only_columns_first(sleep_fit_without_intercept):
    assert list(sleep_fit_without_intercept.coef()["Subject"].columns) == ["(Intercept)", "Days"]


@pytest.fixture(scope="module")
def sleep_fit_without_intercept():
    return ml.lmer("Reaction ~ 0 + Days + (1 | Subject)", ml.load_dataset("sleepstudy"))


# ---------------------------------------------------------------- crossing, removal, poly, contrasts


def test_crossing_operator_gives_terms_up_to_the_power():
    d = pd.DataFrame({"a": list("xyxy"), "b": list("ppqq"), "x": [1.0, 2, 3, 5]})
    assert list(model_matrix("(a + b + x)^2", d).columns) == ["(Intercept)", "ay", "bq", "x", "ay:bq", "ay:x", "bq:x"]
    assert list(model_matrix("(a + b + x)^2", d).columns) == list(model_matrix("a*b + a*x + b*x", d).columns)
    assert list(model_matrix("a*b - a", d).columns) == ["(Intercept)", "bq", "ay:bp", "ay:bq"]  # as R
    with pytest.raises(ValueError, match=r"'x\^2' is the same as 'x'.*I\(x\^2\)"):
        model_matrix("x^2", d)


def test_poly_is_rs_orthogonal_polynomial():
    x = pd.DataFrame({"x": [1.0, 2, 3, 4, 5]})
    X = model_matrix("poly(x, 2)", x)
    assert list(X.columns) == ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2"]
    # R: poly(1:5, 2)
    np.testing.assert_allclose(X["poly(x, 2)1"], [-0.6324555, -0.3162278, 0, 0.3162278, 0.6324555], atol=1e-7)
    np.testing.assert_allclose(X["poly(x, 2)2"], [0.5345225, -0.2672612, -0.5345225, -0.2672612, 0.5345225], atol=1e-7)
    assert list(model_matrix("poly(x,2,raw=TRUE)", x).columns)[1:] == ["poly(x, 2, raw = TRUE)1",
                                                                        "poly(x, 2, raw = TRUE)2"]


def test_stateful_transforms_reuse_the_training_parameters():
    train = pd.DataFrame({"x": [1.0, 2, 4, 8, 9]})
    new = pd.DataFrame({"x": [1.0, 10.0]})
    state = {}
    model_matrix("scale(x) + poly(x, 2)", train, state=state)
    X = model_matrix("scale(x) + poly(x, 2)", new, state=state)
    np.testing.assert_allclose(X["scale(x)"], (new.x - train.x.mean()) / train.x.std())
    refit = model_matrix("scale(x)", new)  # without the state: centred on the new data
    assert not np.allclose(refit["scale(x)"], X["scale(x)"])


def test_scale_in_the_formula_predicts_newdata_as_the_fit():
    sleep = ml.load_dataset("sleepstudy")
    m = ml.lmer("Reaction ~ scale(Days) + (scale(Days) | Subject)", sleep)
    rows = [0, 1, 95]  # their Days have another mean and sd than the data's: the training ones must be used
    np.testing.assert_allclose(m.predict(sleep.iloc[rows]), m.fitted().iloc[rows], rtol=1e-12)


@pytest.mark.parametrize("kind, columns", [
    ("sum", ["recipe1", "recipe2"]), ("helmert", ["recipe1", "recipe2"]), ("SAS", ["recipeA", "recipeB"]),
    ("poly", ["recipe.L", "recipe.Q"]), ("treatment", ["recipeB", "recipeC"]), ("contr.sum", ["recipe1", "recipe2"]),
])
def test_contrasts_give_r_names(kind, columns):
    cake = ml.load_dataset("cake")
    assert list(model_matrix("recipe", cake, contrasts={"recipe": kind}).columns)[1:] == columns


def test_cake_with_sum_contrasts_fits_and_predicts():
    cake = ml.load_dataset("cake")
    m = ml.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", cake, contrasts={"recipe": "sum"})
    assert list(m.fixef().index[:3]) == ["(Intercept)", "recipe1", "recipe2"]
    rows = [0, 7, 50, 200]
    np.testing.assert_allclose(m.predict(cake.iloc[rows].astype({"recipe": str})), m.fitted().iloc[rows], rtol=1e-12)


# ---------------------------------------------------------------- offsets


def offset_data():
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(10), 8)
    t = rng.uniform(0.5, 3, g.size)
    z = rng.normal(0, 0.3, g.size)
    y = 1 + 0.5 * rng.normal(size=g.size) + np.log(t) + z + rng.normal(0, 0.5, 10)[g]
    return pd.DataFrame({"y": y, "x": rng.normal(size=g.size), "t": t, "z": z, "g": [f"g{k}" for k in g]})


def test_offsets_in_the_formula_are_summed_and_added():
    d = offset_data()
    m = ml.lmer("y ~ x + offset(log(t)) + offset(z) + (1 | g)", d)
    by_argument = ml.lmer("y ~ x + offset(log(t)) + (1 | g)", d, offset="z")
    shifted = ml.lmer("w ~ x + (1 | g)", d.assign(w=d.y - np.log(d.t) - d.z))
    assert m.objective == pytest.approx(shifted.objective, rel=1e-12)
    assert by_argument.objective == pytest.approx(shifted.objective, rel=1e-12)
    np.testing.assert_allclose(m.fixef(), shifted.fixef(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(m.fitted(), shifted.fitted() + np.log(d.t) + d.z, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(m.residuals(), shifted.residuals(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(m.predict(), m.fitted(), rtol=1e-12)
    np.testing.assert_allclose(m.predict(d.head(4)), m.fitted().head(4), rtol=1e-12)
    sims = m.simulate(nsim=200, seed=1).to_numpy()
    assert abs(sims.mean() - m.fitted().mean()) < 0.2  # simulations include the offset
    with pytest.raises(ValueError, match=r"offset\(log\(t\)\) needs column 't'"):
        m.predict(d.head(4).drop(columns="t"))


def test_glmer_offset_in_the_formula_equals_the_offset_argument():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(12), 10)
    t = rng.uniform(0.5, 4, g.size)
    d = pd.DataFrame({"x": rng.normal(size=g.size), "t": t, "g": [f"g{k}" for k in g], "logt": np.log(t)})
    d["count"] = rng.poisson(np.exp(0.2 + 0.3 * d.x + d.logt + rng.normal(0, 0.4, 12)[g]))
    in_formula = ml.glmer("count ~ x + offset(log(t)) + (1 | g)", d, family="poisson")
    argument = ml.glmer("count ~ x + (1 | g)", d, family="poisson", offset="logt")
    assert in_formula.objective == pytest.approx(argument.objective, rel=1e-10)
    np.testing.assert_allclose(in_formula.predict(d.head(5)), argument.predict(d.head(5)), rtol=1e-8)
    np.testing.assert_allclose(in_formula.predict(type="response"), in_formula.fitted(), rtol=1e-12)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("formula, message", [
    ("y ~ x %in% g + (1 | g)", r"cannot read the term 'x %in% g'.*Supported"),
    ("y ~ foo(x) + (1 | g)", r"unknown function foo\(\) in the term 'foo\(x\)'.*Supported.*poly\(\)"),
    ("y ~ (x + t)^k + (1 | g)", r"the power in '\(x \+ t\)\^k' must be a whole number"),
    ("y ~ x * offset(t) + (1 | g)", r"offset\(t\) must be a term of its own"),
    ("y ~ x - offset(t) + (1 | g)", r"an offset is added with coefficient 1"),
    ("y ~ I(g + 1) + (1 | g)", r"cannot evaluate the term 'I\(g \+ 1\)'.*Supported"),
    ("y ~ I(x $ t) + (1 | g)", r"cannot read the term 'I\(x \$ t\)'"),
])
def test_formula_errors_name_the_term_and_what_is_supported(formula, message):
    with pytest.raises(ValueError, match=message):
        ml.lmer(formula, offset_data())


@pytest.mark.parametrize("bare, explicit", [("y ~ 1 | g", "y ~ 1 + (1 | g)"), ("y ~ x + 1 | g", "y ~ 1 + (x + 1 | g)"),
                                             ("y ~ 0 + x || g", "y ~ 1 + (0 + x | g)")])
def test_a_bare_bar_is_one_random_term_as_r_parses_it(bare, explicit):
    """'|' binds loosest in R: lme4 reads the whole right-hand side as the random term (test-lmer.R:28)."""
    assert ml.expand_formula(bare) == explicit


@pytest.mark.parametrize("contrasts, message", [
    ({"recipe": "deviation"}, r"unknown contrast 'deviation' for 'recipe': use one of 'treatment', 'sum'"),
    ({"temp": "sum"}, r"contrasts were given for 'temp', which is a numeric variable"),
    ({"recipie": "sum"}, r"contrasts were given for 'recipie', which is not a variable of the fixed effects.*recipe"),
])
def test_bad_contrasts_are_named(contrasts, message):
    with pytest.raises(ValueError, match=message):
        ml.lmer("angle ~ recipe + temp + (1 | recipe:replicate)", ml.load_dataset("cake"), contrasts=contrasts)


def test_newdata_with_a_level_the_fit_never_saw_is_an_error():
    cake = ml.load_dataset("cake")
    m = ml.lmer("angle ~ recipe + temp + (1 | recipe:replicate)", cake)
    new = cake.head(2).astype({"recipe": str}).assign(recipe=["A", "D"])
    with pytest.raises(ValueError, match="the factor 'recipe' has levels not seen in the fit: D"):
        m.predict(new, allow_new_levels=True)


def test_c_gives_a_factor_its_contrasts_in_the_formula():
    cake = ml.load_dataset("cake")
    m = ml.lmer("angle ~ C(recipe, sum) * temp + (1 | recipe:replicate)", cake)
    by_argument = ml.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", cake, contrasts={"recipe": "sum"})
    assert list(m.fixef().index[:3]) == ["(Intercept)", "C(recipe, sum)1", "C(recipe, sum)2"]
    np.testing.assert_allclose(m.fixef(), by_argument.fixef(), rtol=1e-10)
    np.testing.assert_allclose(m.predict(cake.head(3)), m.fitted().head(3), rtol=1e-12)
    with pytest.raises(ValueError, match="unknown contrast 'dev' for 'C\\(recipe, dev\\)'"):
        ml.lmer("angle ~ C(recipe, dev) + (1 | recipe:replicate)", cake)


def test_a_transform_that_makes_infinite_values_is_an_error():
    d = offset_data().assign(x=lambda d: d.x.abs().round(1))  # some zeros
    assert (d.x == 0).any()
    with pytest.raises(ValueError, match=r"the term 'log\(x\)' is infinite or NaN in \d+ row\(s\), e.g. where x = 0.0"):
        ml.lmer("y ~ log(x) + (1 | g)", d)
    ml.lmer("y ~ log(x + 1) + (1 | g)", d)
