"""Bad input gets a clear error or warning that names the problem and the fix."""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedlite as ml


@pytest.fixture(scope="module")
def sleep():
    return ml.load_dataset("sleepstudy")


def test_missing_column_is_named(sleep):
    with pytest.raises(KeyError, match="column 'Dayz' is not in the data; check the spelling.*Reaction, Days, Subject"):
        ml.lmer("Reaction ~ Dayz + (1 | Subject)", sleep)


def test_missing_values_are_dropped_and_counted(sleep):
    holes = sleep.copy()
    holes.loc[[3, 50, 51], "Reaction"] = np.nan
    with pytest.warns(UserWarning, match="dropped 3 of 180 rows with missing values in Reaction"):
        m = ml.lmer("Reaction ~ Days + (1 | Subject)", holes)
    assert m.nobs == 177
    reference = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep.drop(index=[3, 50, 51]))
    np.testing.assert_allclose(m.fixef(), reference.fixef(), rtol=1e-10)



def test_no_complete_rows_names_the_empty_column(sleep):
    holes = sleep.assign(dose=np.nan)
    holes.loc[::2, "Days"] = np.nan
    with pytest.raises(ValueError, match=r"no rows are left after removing rows with missing values.*"
                                         r"dose has no values at all; also missing: Days \(90 of 180 missing\)"):
        ml.lmer("Reaction ~ Days + dose + (1 | Subject)", holes)


def test_no_complete_rows_names_the_columns_that_empty_it_together(sleep):
    holes = sleep.copy()
    holes.loc[::2, "Days"] = np.nan
    holes.loc[1::2, "Reaction"] = np.nan
    with pytest.raises(ValueError, match=r"no rows are left.*every row misses a value in one of "
                                         r"Reaction \(90 of 180 missing\), Days \(90 of 180 missing\)"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", holes)
    with pytest.raises(ValueError, match="the data has no rows"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep.iloc[:0])
    cbpp = ml.load_dataset("cbpp").assign(size=np.nan)
    with pytest.raises(ValueError, match="no rows are left.*size has no values at all"):
        ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")

def test_grouping_factor_with_one_level_per_observation(sleep):
    d = sleep.assign(obs=pd.Categorical(range(len(sleep))))
    with pytest.raises(ValueError, match="number of levels of each grouping factor must be < number of observations"):
        ml.lmer("Reaction ~ Days + (1 | obs)", d)


def test_too_many_random_effects(sleep):
    few = sleep[sleep.Days < 2]  # 2 observations per subject, 2 random effects per subject
    with pytest.raises(ValueError, match=r"number of observations \(=36\) <= number of random effects \(=36\)"):
        ml.lmer("Reaction ~ Days + (Days | Subject)", few)


def test_rank_deficient_fixed_effects_drop_columns_and_say_which(sleep):
    d = sleep.assign(Days2=2 * sleep.Days)
    with pytest.warns(UserWarning, match=r"rank deficient so dropping 1 column\(s\): Days2"):
        m = ml.lmer("Reaction ~ Days + Days2 + (1 | Subject)", d)
    assert list(m.fixef().index) == ["(Intercept)", "Days"]


def test_formula_without_random_term(sleep):
    with pytest.raises(ValueError, match=r"no random-effects term such as \(1 \| group\)"):
        ml.lmer("Reaction ~ Days", sleep)


def test_formula_without_tilde(sleep):
    with pytest.raises(ValueError, match="a formula needs one '~'"):
        ml.lmer("Reaction + Days + (1 | Subject)", sleep)


def test_non_numeric_response(sleep):
    with pytest.raises(TypeError, match="is not numeric.*glmer"):
        ml.lmer("Subject ~ Days + (1 | Subject)", sleep.assign(Subject2=sleep.Subject))


def test_data_must_be_a_dataframe(sleep):
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep.to_dict())


def test_grouping_factor_with_a_single_level(sleep):
    with pytest.raises(ValueError, match="'Subject' has only 1 level"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep[sleep.Subject == "308"])


def test_singular_fit_is_reported_not_hidden():
    with pytest.warns(ml.SingularFitWarning, match=r"boundary \(singular\) fit"):
        m = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.load_dataset("Dyestuff2"))
    assert m.is_singular()
    assert "boundary (singular) fit" in str(m.summary())


def test_optimizer_budget_exhausted_is_a_convergence_warning(sleep):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, maxeval=5)
    messages = [str(w.message) for w in caught if issubclass(w.category, ml.ConvergenceWarning)]
    assert any("NLOPT_MAXEVAL_REACHED" in msg and "Increase maxeval (now 5)" in msg for msg in messages), messages
    assert messages == m.convergence


def test_badly_scaled_predictor_is_flagged(sleep):
    d = sleep.assign(Seconds=sleep.Days * 86400.0)
    with pytest.warns(ml.ConvergenceWarning, match="very different scales: consider rescaling"):
        ml.lmer("Reaction ~ Seconds + (1 | Subject)", d)


def test_unknown_optimizer(sleep):
    with pytest.raises(ValueError, match="unknown optimizer 'newton'; choose one of bobyqa"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, optimizer="newton")


def test_well_posed_fit_raises_no_warning(sleep):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
