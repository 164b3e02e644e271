"""The printed summary follows lme4's layout and number formats."""
import re

import mixedlite as ml
from mixedlite.core.display import abbreviate, r_format


def test_r_format_uses_common_decimals_like_r():
    assert r_format([612.100158, 35.0717145, 654.940008], 4) == ["612.10", "35.07", "654.94"]
    assert r_format([24.7406580, 5.92213766, 25.5917957], 4) == ["24.741", "5.922", "25.592"]


def test_abbreviate_like_r():
    assert abbreviate("(Intercept)") == "(Intr)"
    assert abbreviate("therapy_sessions", 11) == "thrpy_sssns"
    assert abbreviate("Days") == "Days"


def numbers(line):
    return [float(x) for x in re.findall(r"-?\d+\.\d+", line)]


def test_sleepstudy_summary_reads_like_lme4():
    """lme4's layout line by line; the numbers on each line agree with lme4's to 1e-4 relative.

    (Our optimum has a slightly lower REML criterion than lme4's, so the last printed digit of a
    variance can differ: 612.09 here, 612.10 in lme4.)
    """
    m = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.load_dataset("sleepstudy"))
    lines = str(m.summary()).splitlines()
    assert lines[:4] == ["Linear mixed model fit by REML ['lmerMod']", "Formula: Reaction ~ Days + (Days | Subject)",
                         "", "REML criterion at convergence: 1743.6"]
    assert "Number of obs: 180, groups:  Subject, 18" in lines
    expected = {  # line start -> lme4's numbers on that line
        "Scaled residuals": None,
        " Groups   Name        Variance Std.Dev. Corr": None,
        " Subject  (Intercept) ": [612.100158, 24.740658],
        "          Days         ": [35.071714, 5.922138, 0.065551],
        " Residual             ": [654.940008, 25.591796],
        "(Intercept)  ": [251.405105, 6.824597, 36.838090],
        "Days         ": [10.467286, 1.545790, 6.771481],
        "Days -0.138": None,
    }
    for start, values in expected.items():
        matches = [line for line in lines if line.startswith(start)]
        assert matches, f"no line starting {start!r}"
        if values:
            printed = numbers(matches[0])
            decimals = [len(x.split(".")[1]) for x in re.findall(r"-?\d+\.\d+", matches[0])]
            assert len(printed) == len(values), matches[0]
            for p, v, d in zip(printed, values, decimals):
                assert abs(p - v) <= max(1e-4 * abs(v), 10 ** -d), (matches[0], v)
    assert [l for l in lines if l.startswith("    Min")] == ["    Min      1Q  Median      3Q     Max "]
    assert "-3.9536 -0.4634  0.0231  0.4634  5.1793 " in lines


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
