"""The numbers chapters 13 (crossed designs) and 14 (overdispersed counts) state, read from their output.

Each assertion checks a sentence of a chapter against what it printed: the mixed model's class-level
denominator df, the equality of the two cell-means codings, variance components and theta close to the
values they were simulated from, honest versus too-small standard errors; the grouse-tick negative
binomial is compared with lme4 (``tests/fixtures/lme4_options_negbin.json``).
"""
import json
import pathlib
import re

import pytest

from conftest import cell_outputs_text

NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def after(label, text, count=1):
    """The `count` numbers printed right after the first `label` in `text` (separated by anything)."""
    match = re.search(re.escape(label) + r"(.*)", text, flags=re.DOTALL)
    assert match, f"the chapter printed no {label!r}"
    return [float(x) for x in re.findall(NUMBER, match.group(1))[:count]]


def table_row(name, text, start_label, count):
    """The first `count` numbers of the row `name` of the first table printed after `start_label`."""
    tail = text[text.index(start_label):]
    match = re.search(r"^" + re.escape(name) + r"\s+(.*)$", tail, flags=re.MULTILINE)
    assert match, f"no row {name!r} after {start_label!r}"
    return [float(x) for x in re.findall(NUMBER, match.group(1))[:count]]


@pytest.fixture(scope="module")
def ch13(executed_chapter):
    return cell_outputs_text(executed_chapter("13_crossed_designs"))


@pytest.fixture(scope="module")
def ch14(executed_chapter):
    return cell_outputs_text(executed_chapter("14_overdispersed_counts"))


@pytest.mark.slow
def test_ch13_two_codings_of_the_cell_means_model_are_one_model(ch13):
    rss_cells, rss_product = after("RSS  school:class - 1 =", ch13, 1)[0], after("school * class - 1 =", ch13, 1)[0]
    assert rss_cells == pytest.approx(rss_product, rel=1e-9)
    assert after("largest difference in fitted values:", ch13)[0] < 1e-8
    assert after("cell II:b   =", ch13)[0] == after("schoolII + classb + schoolII:classb =", ch13)[0]
    assert "schoolI, schoolII, schoolIII, schoolIV, schoolV, schoolVI, classb, classc, classd" in ch13


@pytest.mark.slow
def test_ch13_mixed_model_tests_tracks_on_class_level_df(ch13):
    f_dummy, df1, df2 = after("track effect, dummy-variable F-test: F =", ch13, 3)
    f_mixed, num_df, den_df = after("track effect, mixed model:           F =", ch13, 3)
    assert (df1, df2) == (3, 1188)
    assert num_df == 3 and abs(den_df - 15) < 0.5          # 24 classes - 6 schools - 3 track contrasts
    assert f_mixed < f_dummy / 10


@pytest.mark.slow
def test_ch13_recovers_the_survey_components(ch13):
    class_sd, true_class_sd = after("class-within-school SD: estimated", ch13, 2)
    resid_sd, true_resid_sd = after("residual SD:            estimated", ch13, 2)
    assert abs(class_sd - true_class_sd) < 0.5 * true_class_sd
    assert abs(resid_sd - true_resid_sd) < 0.05


@pytest.mark.slow
def test_ch13_forgetting_neighbourhoods_understates_the_standard_error(ch13):
    crossed_ratio = after("crossed      : the deprivation estimates scatter with SD", ch13, 3)[2]
    schools_ratio = after("schools only : the deprivation estimates scatter with SD", ch13, 3)[2]
    assert 0.8 < crossed_ratio < 1.25, f"crossed model: reported / actual SE {crossed_ratio}"
    assert schools_ratio < 0.7, f"schools-only model: reported / actual SE {schools_ratio}"
    crossed_sd, schools_sd, true_sd = after("average school SD: crossed", ch13, 3)
    assert abs(crossed_sd - true_sd) < 0.3 and schools_sd > crossed_sd
    assert after("correlation of predicted and true school effects:", ch13)[0] > 0.8


@pytest.mark.slow
def test_ch14_simulated_counts_are_overdispersed_and_the_negative_binomial_recovers_theta(ch14):
    assert after("Pearson ratio of the Poisson GLMM:", ch14)[0] > 1.5
    theta, true_theta = after("theta: estimated", ch14, 2)
    assert true_theta == 2 and abs(theta - true_theta) < 0.3 * true_theta
    se_poisson, se_nb, ratio = after("SE of the x effect: Poisson", ch14, 3)
    assert se_poisson < se_nb and ratio < 0.8
    nb_int, obs_int, difference, half_variance = after("intercept: negative binomial", ch14, 4)
    assert difference > 0 and abs(difference - half_variance) < 0.1
    observed_zeros, expected_poisson, expected_nb = after("zeros: observed", ch14, 3)
    assert expected_poisson < observed_zeros / 1.5 and abs(expected_nb - observed_zeros) < 0.2 * observed_zeros


@pytest.mark.slow
def test_ch14_poisson_standard_errors_are_too_small(ch14):
    poisson_ratio, _, poisson_coverage = after("Poisson          : reported SE / actual spread =", ch14, 3)
    nb_ratio, _, nb_coverage = after("negative binomial: reported SE / actual spread =", ch14, 3)
    assert poisson_ratio < 0.65 and 0.75 < nb_ratio < 1.35   # the text: "about half", "matches"
    assert poisson_coverage < nb_coverage


@pytest.mark.slow
def test_ch14_grouse_ticks_negative_binomial_matches_lme4(ch14):
    fixture = pathlib.Path(__file__).parent / "fixtures" / "lme4_options_negbin.json"
    ref = json.loads(fixture.read_text())["fits"]["grouseticks_nb"]["default"]
    assert after("theta =", ch14)[0] == pytest.approx(ref["nb_theta"], abs=0.005)
    aic_poisson, aic_obs, aic_nb = after("AIC: Poisson", ch14, 3)
    assert aic_nb == pytest.approx(ref["AIC"], abs=0.05)
    assert aic_poisson - max(aic_obs, aic_nb) > 100
    brood_poisson, brood_obs, brood_nb = after("BROOD SD: Poisson", ch14, 3)
    assert brood_nb == pytest.approx(ref["theta"][0], abs=5e-4) and brood_nb < brood_obs < brood_poisson
