"""The clinic tutorial's published numbers, read from the executed chapters 3 and 4.

The tutorial (source document 001) reports, for ``anxiety ~ therapy_sessions + (1 | clinic)``,
"REML criterion at convergence: 1987.4" and ICC 0.448, and for the random-intercept versus
random-slope comparison ``anova(model_ri, model_rs)`` Chisq 13.998 on 2 df (p = 0.0009127).
The numbers are parsed from the chapters' printed output and compared with tolerances.
"""
import re

import pytest

from conftest import cell_outputs_text

NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def numbers_after(label, text):
    """Every number printed right after ``label`` (e.g. 'ICC:' -> [0.448, ...])."""
    return [float(x) for x in re.findall(re.escape(label) + r"\s*" + NUMBER, text)]


@pytest.mark.slow
def test_chapter3_reproduces_the_reml_criterion(executed_chapter):
    text = cell_outputs_text(executed_chapter("03_icc"))
    values = numbers_after("REML criterion at convergence:", text)
    assert values, "chapter 3 printed no 'REML criterion at convergence:' line"
    assert any(abs(v - 1987.4) < 0.05 for v in values), f"REML criteria printed: {values}"


@pytest.mark.slow
def test_chapter3_reproduces_the_icc(executed_chapter):
    text = cell_outputs_text(executed_chapter("03_icc"))
    by_hand = numbers_after("ICC:", text)
    from_library = numbers_after("ml.icc(m_ri):", text)
    assert by_hand and from_library, "chapter 3 printed no 'ICC:' or 'ml.icc(m_ri):' line"
    assert abs(by_hand[0] - 0.448) < 0.0015, f"ICC by hand: {by_hand[0]}"
    assert abs(from_library[0] - 0.448) < 0.0015, f"ml.icc: {from_library[0]}"
    tau2 = numbers_after("between-clinic variance tau^2:", text)
    sigma2 = numbers_after("within-clinic variance sigma^2:", text)
    assert tau2 and abs(tau2[0] - 31.08) < 0.02, f"tau^2: {tau2}"
    assert sigma2 and abs(sigma2[0] - 38.37) < 0.02, f"sigma^2: {sigma2}"


@pytest.mark.slow
def test_chapter4_reproduces_the_random_slope_lrt(executed_chapter):
    text = cell_outputs_text(executed_chapter("04_reml_ml"))
    assert "REML criterion at convergence: 1973.1" in text
    # the anova table row of the random-slope model: npar AIC BIC logLik deviance Chisq Df Pr(>Chisq)
    rows = re.findall(r"^model_rs\s+(.*)$", text, flags=re.MULTILINE)
    assert rows, "chapter 4 printed no anova row named model_rs"
    npar, aic, bic, loglik, deviance, chisq, df, p = (float(x) for x in re.findall(NUMBER, rows[0])[:8])
    assert npar == 6 and df == 2
    assert abs(chisq - 13.998) < 0.002, f"Chisq {chisq}"
    assert abs(p - 0.0009127) < 2e-6, f"p {p}"
    assert abs(aic - 1984.2) < 0.05 and abs(bic - 2006.4) < 0.05 and abs(loglik - (-986.08)) < 0.005
    # the same statistic rebuilt by hand from the ML log-likelihoods
    by_hand = re.findall(r"= " + NUMBER + r" on 2 df", text)
    assert by_hand and abs(float(by_hand[0]) - 13.998) < 0.002, f"by-hand Chisq: {by_hand}"
