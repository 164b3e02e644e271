"""The printed summary follows lme4's layout and number formats."""
import mixedlite as ml
from mixedlite.display import abbreviate, r_format


def test_r_format_uses_common_decimals_like_r():
    assert r_format([612.100158, 35.0717145, 654.940008], 4) == ["612.10", "35.07", "654.94"]
    assert r_format([24.7406580, 5.92213766, 25.5917957], 4) == ["24.741", "5.922", "25.592"]


def test_abbreviate_like_r():
    assert abbreviate("(Intercept)") == "(Intr)"
    assert abbreviate("therapy_sessions", 11) == "thrpy_sssns"
    assert abbreviate("Days") == "Days"


def test_sleepstudy_summary_reads_like_lme4():
    m = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.load_dataset("sleepstudy"))
    text = str(m.summary())
    expected_lines = [
        "Linear mixed model fit by REML ['lmerMod']",
        "Formula: Reaction ~ Days + (Days | Subject)",
        "REML criterion at convergence: 1743.6",
        "-3.9536 -0.4634  0.0231  0.4634  5.1793 ",
        " Groups   Name        Variance Std.Dev. Corr",
        " Subject  (Intercept) 612.10   24.741",
        "          Days         35.07    5.922    0.07",
        " Residual             654.94   25.592",
        "Number of obs: 180, groups:  Subject, 18",
        "(Intercept)  251.405      6.825  36.838",
        "Days          10.467      1.546   6.771",
        "Days -0.138",
    ]
    lines = text.splitlines()
    for line in expected_lines:
        assert line in lines, f"missing line {line!r} in\n{text}"


def test_ml_summary_shows_information_criteria():
    m = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.load_dataset("sleepstudy"), REML=False)
    lines = str(m.summary()).splitlines()
    assert "Linear mixed model fit by maximum likelihood  ['lmerMod']" in lines
    header = lines.index("     AIC      BIC   logLik deviance df.resid ")
    assert lines[header + 1].split() == ["1763.9", "1783.1", "-876.0", "1751.9", "174"]


def test_summary_coefficients_table_is_a_dataframe():
    m = ml.lmer("anxiety ~ therapy_sessions + (1 | clinic)", ml.load_dataset("clinic_anxiety"))
    table = m.summary().coefficients
    assert list(table.columns) == ["Estimate", "Std. Error", "t value"]
    assert round(table.loc["therapy_sessions", "t value"], 2) == -23.61
