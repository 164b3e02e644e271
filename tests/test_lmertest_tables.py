"""lmerTest's tables against lmerTest 3.1: anova_ddf (types I-III), drop1, ranova, ls_means and contest.

References: tests/fixtures/lmertest_tables.json, written by tests/fixtures/lmertest_tables.R from lme4 fits
refitted with tight optimiser tolerances (our optimum agrees with those to ~1e-6 in theta).
"""
import functools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedlite as ml

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "lmertest_tables.json").read_text())
CASES = [case for case in REFERENCE if case != "provenance"]

RTOL = 1e-4           # F, sums of squares, estimates, SEs, t, LRT, logLik, AIC
RTOL_DF_P = 1e-3      # DenDF, df and p-values
DF_P_COLUMNS = {"DenDF", "df", "Pr(>F)", "Pr(>|t|)", "Pr(>Chisq)"}
EXACT_COLUMNS = {"NumDF", "npar", "Df"}
INTERVAL_COLUMNS = {"lower", "upper"}  # can sit near 0: compared relative to |end| + SE
F_TABLE = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
T_TABLE = ["Estimate", "Std. Error", "df", "t value", "lower", "upper", "Pr(>|t|)"]


def case_data(case):
    """The data of a reference case, built as the R script builds it."""
    if case.startswith("cake"):
        d = ml.load_dataset("cake")
        if "unbalanced" in case or case == "cake_missing_cell":
            d = d.drop(d.index[::7])  # R: cake[-seq(1, nrow(cake), by = 7), ]
        if case in ("cake_treatment_unbalanced", "cake_missing_cell"):
            d["temperature"] = d["temperature"].cat.as_unordered()
        if case == "cake_missing_cell":
            d = d[~((d["recipe"] == "C") & (d["temperature"] == "175"))]
        return d
    if case.startswith("sleepstudy"):
        d = ml.load_dataset("sleepstudy")
        d["fDays"] = pd.Categorical(d["Days"].astype(int).astype(str), categories=[str(i) for i in range(10)])
        d["group"] = np.where(d["Subject"].astype(int) % 2 == 0, "even", "odd")
        return d
    return ml.load_dataset({"pastes_nested": "Pastes", "penicillin_crossed": "Penicillin",
                            "clinic_slopes": "clinic_anxiety"}[case])


CONTRASTS = {  # R's contr.sum and contr.helmert for k levels (k x (k - 1))
    "contr.sum": lambda k: np.vstack([np.eye(k - 1), -np.ones(k - 1)]),
    "contr.helmert": lambda k: np.array([[-1.0 if i < j + 1 else (j + 1.0 if i == j + 1 else 0.0)
                                          for j in range(k - 1)] for i in range(k)]),
}
CODED_CASES = [case for case in CASES if REFERENCE[case].get("contrasts")]


def hand_coded_cake(case):
    """cake's model with X in R's sum or Helmert coding, built by hand (until lmer takes contrasts=)."""
    ref = REFERENCE[case]
    design = ml.lmer(ref["formula"], case_data("cake_poly_unbalanced")).design
    coded = {}
    for factor in ("recipe", "temperature"):
        values = design.data[factor]
        coded[factor] = CONTRASTS[ref["contrasts"][factor]](len(values.cat.categories))[values.cat.codes.to_numpy()]
    recipe, temperature = coded["recipe"], coded["temperature"]
    columns = {"(Intercept)": np.ones(design.n)}
    columns.update({f"recipe{j + 1}": recipe[:, j] for j in range(recipe.shape[1])})
    columns.update({f"temperature{j + 1}": temperature[:, j] for j in range(temperature.shape[1])})
    columns.update({f"recipe{i + 1}:temperature{j + 1}": recipe[:, i] * temperature[:, j]
                    for j in range(temperature.shape[1]) for i in range(recipe.shape[1])})
    design.X = pd.DataFrame(columns, index=design.data.index)
    assert list(design.X.columns) == ref["coef_names"]
    return ml.LinearMixedModel(design, REML=ref["REML"]).fit()


@functools.lru_cache(maxsize=None)
def fit(case):
    ref = REFERENCE[case]
    if case in CODED_CASES:
        return hand_coded_cake(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        warnings.filterwarnings("ignore", message="fixed-effect model matrix is rank deficient")  # the missing cell
        return ml.lmer(ref["formula"], case_data(case), REML=ref["REML"])


def assert_table(actual, expected):
    assert list(actual.index) == list(expected["rows"])
    assert list(actual.columns) == list(expected["columns"])
    for column, values in expected["columns"].items():
        want = np.array([np.nan if v is None else v for v in values], dtype=float)
        got = actual[column].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(got), np.isnan(want)), column
        ok = ~np.isnan(want)
        if column in EXACT_COLUMNS:
            np.testing.assert_array_equal(got[ok], want[ok], err_msg=column)
        elif column in INTERVAL_COLUMNS:
            scale = np.abs(want) + actual["Std. Error"].to_numpy(dtype=float)
            np.testing.assert_array_less(np.abs(got - want)[ok], (RTOL * scale)[ok], err_msg=column)
        else:
            rtol = RTOL_DF_P if column in DF_P_COLUMNS else RTOL
            np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, err_msg=column)


def keys(prefix, cases=CASES):
    return [(case, key) for case in cases
            for key in REFERENCE[case] if key.startswith(prefix) and key != "contest_L"]


def method(key):
    return "Kenward-Roger" if "_KR" in key else "Satterthwaite"


def test_our_fits_are_the_tight_reference_fits():
    for case in CASES:
        np.testing.assert_allclose(fit(case).objective, REFERENCE[case]["objective"], rtol=1e-8, err_msg=case)


# ---------------------------------------------------------------- anova_ddf and drop1

@pytest.mark.parametrize("case, key", keys("anova_"))
def test_anova_ddf_matches_lmertest(case, key):
    table = ml.anova_ddf(fit(case), ddf=method(key), type=int(key[-1]))
    assert list(table.columns) == F_TABLE
    assert_table(table, REFERENCE[case][key])


@pytest.mark.parametrize("case, key", keys("drop1_"))
def test_drop1_matches_lmertest(case, key):
    assert_table(ml.drop1(fit(case), ddf=method(key)), REFERENCE[case][key])


def test_type3_does_not_depend_on_the_coding():
    """lmerTest's type III hypotheses give the same tests with poly and treatment contrasts."""
    m_poly = fit("cake_poly_unbalanced")
    m_treatment = ml.lmer(REFERENCE["cake_treatment_unbalanced"]["formula"], case_data("cake_treatment_unbalanced"))
    m_treatment._set_theta(m_poly.theta, m_treatment.criterion(m_poly.theta))  # the same fit, two codings
    poly = ml.anova_ddf(m_poly, type=3)
    treatment = ml.anova_ddf(m_treatment, type=3)
    np.testing.assert_allclose(poly.to_numpy(), treatment.to_numpy(), rtol=1e-6)
    type1 = ml.anova_ddf(fit("cake_poly_unbalanced"), type=1)
    assert not np.allclose(type1["F value"], poly["F value"], rtol=1e-3)  # unbalanced: the types differ


def test_anova_ddf_heading_and_hypotheses():
    table = ml.anova_ddf(fit("cake_poly"), type="II", ddf="Kenward-Roger")
    assert table.attrs["heading"] == "Type II Analysis of Variance Table with Kenward-Roger's method"
    assert set(table.attrs["hypotheses"]) == {"recipe", "temperature", "recipe:temperature"}
    assert "recipe:temperature" in repr(table) and "Pr(>F)" in repr(table)
    text = repr(ml.drop1(fit("sleepstudy_group")))
    assert text.startswith("Single term deletions using Satterthwaite's method:") and "Days:group" in text


def test_sum_contrasts_give_lmertest_tables():
    ref = REFERENCE["cake_sum_unbalanced"]
    m = ml.lmer(ref["formula"], case_data("cake_poly_unbalanced"), contrasts={"recipe": "sum", "temperature": "sum"})
    assert list(m.fixef().index) == ref["coef_names"]
    for key in ref:
        if key.startswith("anova_"):
            assert_table(ml.anova_ddf(m, ddf=method(key), type=int(key[-1])), ref[key])
        elif key.startswith("drop1_"):
            assert_table(ml.drop1(m, ddf=method(key)), ref[key])
        elif key.startswith("ls_means"):
            assert_table(ml.ls_means(m, "recipe", pairwise="pairwise" in key, ddf=method(key)), ref[key])


# ---------------------------------------------------------------- ranova

@pytest.mark.parametrize("case", CASES)
def test_ranova_matches_lmertest(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        table = ml.ranova(fit(case))
    assert list(table.columns) == ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"]
    assert_table(table, REFERENCE[case]["ranova"])


@pytest.mark.parametrize("case", CASES)
def test_ranova_of_whole_terms_matches_lmertest(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        table = ml.ranova(fit(case), reduce_terms=False)
    assert_table(table, REFERENCE[case]["ranova_whole_terms"])


def test_ranova_row_names():
    assert list(ml.ranova(fit("sleepstudy_slopes")).index) == ["<none>", "Days in (Days | Subject)"]
    assert list(ml.ranova(fit("sleepstudy_uncorrelated")).index) == [
        "<none>", "(1 | Subject)", "Days in (0 + Days | Subject)"]
    assert list(ml.ranova(fit("pastes_nested")).index) == ["<none>", "(1 | cask:batch)", "(1 | batch)"]


# ---------------------------------------------------------------- ls_means and contest

@pytest.mark.parametrize("case, key", keys("ls_means_"))
def test_ls_means_matches_lmertest(case, key):
    term = key.split("_KR_" if "_KR_" in key else "_S_", 1)[1]
    table = ml.ls_means(fit(case), term, pairwise="pairwise" in key, ddf=method(key))
    assert list(table.columns) == T_TABLE
    assert_table(table, REFERENCE[case][key])


@pytest.mark.parametrize("case, key", keys("contest_"))
def test_contest_matches_lmertest(case, key):
    L = np.array(REFERENCE[case]["contest_L"], dtype=float)
    m = fit(case)
    if "rows" in key:
        table = ml.contest(m, L, joint=False, ddf=method(key), rhs=1, level=0.9)
    else:
        table = ml.contest(m, L, ddf=method(key), rhs=1 if "rhs" in key else 0)
    table.index = [str(i + 1) for i in range(len(table))]  # R numbers the rows
    assert_table(table, REFERENCE[case][key])


def test_contest_takes_a_named_data_frame_and_a_vector():
    m = fit("sleepstudy_slopes")
    by_name = ml.contest(m, pd.DataFrame({"Days": [1.0]}, index=["slope"]), joint=False)
    by_position = ml.contest(m, [0.0, 1.0], joint=False)
    assert list(by_name.index) == ["slope"]
    np.testing.assert_allclose(by_name.to_numpy(), by_position.to_numpy())
    np.testing.assert_allclose(by_position["Estimate"], m.fixef()["Days"])


def test_ls_means_of_every_factor_term_by_default():
    table = ml.ls_means(fit("cake_poly"))
    assert len(table) == 3 + 6 + 18 and table.index[0] == "recipeA"


# ---------------------------------------------------------------- bad input

def test_ls_means_of_a_numeric_term_is_refused():
    with pytest.raises(ValueError, match="numeric variable.*group"):
        ml.ls_means(fit("sleepstudy_group"), "Days")
    with pytest.raises(ValueError, match="not a fixed-effects term"):
        ml.ls_means(fit("sleepstudy_group"), "Subject")


def test_contest_with_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match=r"L has 3 columns but the model has 2 fixed effects \(\(Intercept\), Days\)"):
        ml.contest(fit("sleepstudy_slopes"), [[0, 1, 0]])
    with pytest.raises(ValueError, match="not fixed effects"):
        ml.contest(fit("sleepstudy_slopes"), pd.DataFrame({"days": [1.0]}))
    with pytest.raises(ValueError, match="rhs must be one number or one per row"):
        ml.contest(fit("sleepstudy_slopes"), np.eye(2), rhs=[1, 2, 3])


def test_kenward_roger_needs_a_reml_fit_as_in_lmertest():
    m = fit("sleepstudy_slopes_ml")
    for call in (lambda: ml.anova_ddf(m, ddf="Kenward-Roger"), lambda: ml.drop1(m, ddf="Kenward-Roger"),
                 lambda: ml.contest(m, [0, 1], ddf="Kenward-Roger"),
                 lambda: ml.ls_means(fit("sleepstudy_factor").refit_ml(), "fDays", ddf="Kenward-Roger")):
        with pytest.raises(ValueError, match="only available for REML fits"):
            call()


def test_bad_type_and_ddf_are_refused():
    with pytest.raises(ValueError, match="type must be 1, 2 or 3"):
        ml.anova_ddf(fit("cake_poly"), type=4)
    with pytest.raises(ValueError, match="ddf must be one of"):
        ml.drop1(fit("cake_poly"), ddf="Wald")


def test_intercept_only_models_have_empty_fixed_effect_tables():
    m = fit("penicillin_crossed")
    for table in (ml.anova_ddf(m, type=1), ml.anova_ddf(m), ml.drop1(m), ml.ls_means(m)):
        assert len(table) == 0


def test_glmms_are_refused_with_a_clear_error():
    cbpp = ml.load_dataset("cbpp")
    g = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    with pytest.raises(ValueError, match="linear mixed models"):
        ml.anova_ddf(g)
    with pytest.raises(ValueError, match="linear mixed models"):
        ml.ls_means(g, "period")
    with pytest.raises(ValueError, match="ranova is for linear mixed models.*closed-form criterion.*anova"):
        ml.ranova(g)


RANOVA_WEIGHTS = json.loads((Path(__file__).parent / "fixtures" / "ranova_weights_offset.json").read_text())
RANOVA_WEIGHTS_FITS = {
    "weights_offset_slopes": ("Reaction ~ Days + offset(t) + (Days | Subject)", True),
    "weights_intercept": ("Reaction ~ Days + (1 | Subject)", True),
    "weights_slopes_ml": ("Reaction ~ Days + (Days | Subject)", False),
}


@pytest.mark.parametrize("case", sorted(RANOVA_WEIGHTS_FITS))
def test_ranova_refits_keep_prior_weights_and_offsets(case):
    """The reduced models (and the linear model without random terms) keep the weights and the offset."""
    d = ml.load_dataset("sleepstudy")
    d = d.assign(w=1 + d.Days % 3, t=np.log1p(d.Days))
    formula, reml = RANOVA_WEIGHTS_FITS[case]
    table = ml.ranova(ml.lmer(formula, d, REML=reml, weights="w"))
    ref = RANOVA_WEIGHTS[case]
    assert list(table.index) == ref["rows"]
    assert list(table["npar"]) == ref["npar"]
    np.testing.assert_allclose(table["logLik"], ref["logLik"], rtol=1e-6)
