"""The numbers chapters 12 (crossed designs), 13 (simulate and recover) and 14 (overdispersed counts) state.

Each assertion checks a sentence of the chapter against what it printed: the mixed model's class-level
denominator df, the equality of the two cell-means codings, the recovered variance components and
fixed effects close to the values they were simulated from, honest versus too-small standard errors,
interval coverage, and the shape of the prediction bands.  The clinic model's estimates are compared
with lme4 (``tests/fixtures/clinic_random_slopes.R``: R 4.2.2, lme4 1.1-31, tight tolerances), the
grouse-tick negative binomial with ``tests/fixtures/lme4_options_negbin.json``.
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
def ch12(executed_chapter):
    return cell_outputs_text(executed_chapter("12_crossed_designs"))


@pytest.fixture(scope="module")
def ch13(executed_chapter):
    return cell_outputs_text(executed_chapter("13_simulate_and_recover"))


@pytest.fixture(scope="module")
def ch14(executed_chapter):
    return cell_outputs_text(executed_chapter("14_overdispersed_counts"))


@pytest.mark.slow
def test_ch12_two_codings_of_the_cell_means_model_are_one_model(ch12):
    rss_cells, rss_product = after("RSS  school:class - 1 =", ch12, 1)[0], after("school * class - 1 =", ch12, 1)[0]
    assert rss_cells == pytest.approx(rss_product, rel=1e-9)
    assert after("largest difference in fitted values:", ch12)[0] < 1e-8
    assert after("cell II:b   =", ch12)[0] == after("schoolII + classb + schoolII:classb =", ch12)[0]
    assert "schoolI, schoolII, schoolIII, schoolIV, schoolV, schoolVI, classb, classc, classd" in ch12


@pytest.mark.slow
def test_ch12_mixed_model_tests_tracks_on_class_level_df(ch12):
    f_dummy, df1, df2 = after("track effect, dummy-variable F-test: F =", ch12, 3)
    f_mixed, num_df, den_df = after("track effect, mixed model:           F =", ch12, 3)
    assert (df1, df2) == (3, 1188)
    assert num_df == 3 and abs(den_df - 15) < 0.5          # 24 classes - 6 schools - 3 track contrasts
    assert f_mixed < f_dummy / 10


@pytest.mark.slow
def test_ch12_recovers_the_survey_components(ch12):
    class_sd, true_class_sd = after("class-within-school SD: estimated", ch12, 2)
    resid_sd, true_resid_sd = after("residual SD:            estimated", ch12, 2)
    assert abs(class_sd - true_class_sd) < 0.5 * true_class_sd
    assert abs(resid_sd - true_resid_sd) < 0.05


@pytest.mark.slow
def test_ch12_forgetting_neighbourhoods_understates_the_standard_error(ch12):
    crossed_ratio = after("crossed      : the deprivation estimates scatter with SD", ch12, 3)[2]
    schools_ratio = after("schools only : the deprivation estimates scatter with SD", ch12, 3)[2]
    assert 0.8 < crossed_ratio < 1.25, f"crossed model: reported / actual SE {crossed_ratio}"
    assert schools_ratio < 0.7, f"schools-only model: reported / actual SE {schools_ratio}"
    crossed_sd, schools_sd, true_sd = after("average school SD: crossed", ch12, 3)
    assert abs(crossed_sd - true_sd) < 0.3 and schools_sd > crossed_sd
    assert after("correlation of predicted and true school effects:", ch12)[0] > 0.8


@pytest.mark.slow
def test_ch13_first_data_set_as_the_text_describes_it(ch13):
    header = "(est - truth) / SE"
    intercept = table_row("(Intercept)", ch13, header, 4)
    assert intercept[0] == 10.0 and intercept[3] > 2, "the text says the intercept misses by more than 2 SE"
    sd_int = table_row("sd_(Intercept)|Site", ch13, header, 2)
    assert 0.4 < sd_int[1] / sd_int[0] < 0.6, "the text says the site SD is about half its true value"
    for name in ("Temp", "N"):
        truth, estimate, se, z = table_row(name, ch13, header, 4)
        assert abs(z) < 2
    assert after("largest ratio of widths between methods:", ch13)[0] <= 1.35


@pytest.mark.slow
def test_ch13_prediction_band_fans_out_along_the_random_slope_only(ch13):
    temp_narrow, temp_wide = after("prediction band width along Temp:", ch13, 2)
    n_narrow, n_wide = after("prediction band width along N:", ch13, 2)
    assert temp_wide / temp_narrow > 1.5
    assert n_wide / n_narrow < 1.2
    mean_line, _, ci_lo, ci_hi, _, pi_lo, pi_hi = after("at Temp = 0, N = 0: average-site line", ch13, 7)
    assert pi_lo < ci_lo < mean_line < ci_hi < pi_hi
    assert (pi_hi - pi_lo) > 4 * (ci_hi - ci_lo)


@pytest.mark.slow
def test_ch13_repeated_simulation_recovers_the_truth(ch13):
    coverage = after("Wald 95 % interval for Temp covered the truth in", ch13)[0]
    assert 88 <= coverage <= 99
    start = "middle 95 % of the correlation estimates:"
    for name, tolerance in [("(Intercept)", 0.1), ("Temp", 0.05), ("N", 0.05), ("sd_(Intercept)|Site", 0.05),
                            ("sd_Temp|Site", 0.05), ("sigma", 0.02)]:
        truth, mean_estimate = table_row(name, ch13, start, 2)
        assert abs(mean_estimate - truth) < tolerance, f"{name}: mean {mean_estimate}, truth {truth}"


@pytest.mark.slow
def test_ch13_clinic_estimates_match_lme4_and_sit_among_the_simulated_ones(ch13):
    lme4 = {"(Intercept)": 51.0165989, "therapy_sessions": -1.4296989, "sd_(Intercept)|clinic": 3.44767091,
            "cor_therapy_sessions.(Intercept)|clinic": 0.55202044, "sd_therapy_sessions|clinic": 0.27617246,
            "sigma": 5.98745029}
    start = "anxiety scores at the clipping bounds:"
    at_zero, _, at_hundred, _ = after(start, ch13, 4)
    assert at_zero == 0 and at_hundred == 0, "the text says the clipping never acts on these data"
    for name, value in lme4.items():
        truth, estimate = table_row(name, ch13, start, 2)
        assert estimate == pytest.approx(value, abs=6e-4), f"{name}: {estimate} vs lme4 {value}"
    assert "profile intervals covering the truth: 6 of 6" in ch13
    sims = "median of 150 fits"
    truth, median = table_row("therapy_sessions", ch13, sims, 2)
    assert abs(median - truth) < 0.05
    truth, median = table_row("sd_(Intercept)|clinic", ch13, sims, 2)
    assert abs(median - truth) < 0.5


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
