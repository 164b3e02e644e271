"""lmerTest's own tests, ported to mixedlite: Satterthwaite and Kenward-Roger t- and F-tests,
type I/II/III anova tables, many of them checked by lmerTest against SAS PROC MIXED.

Source: https://github.com/runehaubo/lmerTestR at commit 35dc5885205d709cdc395b369b08ca2b7273cb78
(GPL >= 2), ``tests/*.R``; each assertion names its file and line and keeps its tolerance (R's
``all.equal``: mean relative difference; lmerTest's TOL = 1e-4, TOL2 = 1e-5).  Data: lme4's
datasets (bundled with mixedlite), lmerTest's ``carrots`` and ``ham`` (``tests/peer/data/lmerTest/``,
written by ``tests/peer/make_peer_data.R`` with each factor's R level order), and data written
inline in the tests.
"""
import json

import numpy as np
import pandas as pd
import pytest

import mixedlite as ml
from peer_checks import DATA, load_fixture, quietly, r_all_equal

LT = DATA / "lmerTest"
TOL, TOL2 = 1e-4, 1e-5


def lmertest_data(name, sas=()):
    """A dataset with R's factor levels; ``sas``: factors coded as contr.SAS (the last level is the
    reference), which treatment contrasts reproduce with the last level moved first."""
    d = pd.read_csv(LT / f"{name}.csv")
    for column, levels in json.loads((LT / f"{name}.levels.json").read_text()).items():
        levels = [levels] if isinstance(levels, str) else levels
        order = [levels[-1]] + levels[:-1] if column in sas else levels
        values = d[column].astype("Int64") if d[column].dtype.kind == "f" else d[column]  # NA: a float column
        d[column] = pd.Categorical(values.astype(str), categories=order)  # "<NA>" is no level: missing
    return d


def anova(model, type=3, ddf="Satterthwaite"):
    return ml.anova_ddf(model, ddf=ddf, type=type)


# ---------------------------------------------------------------- tests/test_compare_sas.R


@pytest.fixture(scope="module")
def carrots_sas():
    d = lmertest_data("carrots", sas=("Frequency", "Income"))
    return quietly(ml.lmer, "Preference ~ sens2*Frequency*Income + (1+sens2|Consumer)", d)


def test_sas_carrots_anova(carrots_sas):
    an = anova(carrots_sas)
    r_all_equal([2e-5, 0.15512, 0.06939, 0.08223, 0.52459, 0.03119, 0.48344], an["Pr(>F)"], TOL)  # test_compare_sas.R:24
    assert list(np.round(an["DenDF"])) == [83] * 7  # test_compare_sas.R:28


def test_sas_carrots_summary(carrots_sas):
    p = carrots_sas.summary(ddf="Satterthwaite").coefficients["Pr(>|t|)"]
    r_all_equal([1e-10, 0.005061, 0.6865554, 0.342613, 0.129157,
                 0.088231, 0.846000, 0.354472, 0.526318, 0.020646, 0.010188,
                 0.031242, 0.055356, 0.694689, 0.099382, 0.28547,
                 0.977774, 0.855653, 0.427737, 0.321086, 0.417465, 0.204385, 0.784437,
                 0.681434, 0.106180, 0.149122, 0.390870, 0.273686], p, TOL)  # test_compare_sas.R:33


def test_sas_ham_ls_means():
    d = lmertest_data("ham")
    m = quietly(ml.lmer, "Informed.liking ~ Product*Information*Gender + (1|Product:Consumer) + (1|Consumer)", d)
    lsm = ml.ls_means(m, "Product")
    r_all_equal([5.8084, 5.1012, 6.0909, 5.9256], lsm["Estimate"], TOL)  # test_compare_sas.R:63
    r_all_equal([24.93, 21.89, 26.14, 25.43], np.round(lsm["t value"], 2), TOL)  # test_compare_sas.R:65
    r_all_equal([5.3499, 4.6428, 5.6324, 5.4672], lsm["lower"], TOL)  # test_compare_sas.R:67
    r_all_equal([6.2668, 5.5597, 6.5493, 6.3840], lsm["upper"], TOL)  # test_compare_sas.R:69


@pytest.fixture(scope="module")
def carrots_no_intercept():
    return quietly(ml.lmer, "Preference ~ 0 + sens2 + Homesize + (1+sens2 | Consumer)", lmertest_data("carrots"))


def test_sas_carrots_no_intercept_type_1(carrots_no_intercept):
    r_all_equal([56.5394, 4169.87], anova(carrots_no_intercept, type=1)["F value"], TOL2)  # test_compare_sas.R:90


def test_sas_carrots_no_intercept_type_3(carrots_no_intercept):
    r_all_equal([54.8206, 4169.87], anova(carrots_no_intercept, type=3)["F value"], TOL2)  # test_compare_sas.R:91


@pytest.fixture(scope="module")
def glm_sas_101():
    """test_compare_sas.R:96-100: the example of the SAS report 'GLM SAS 101'."""
    f = lambda v: pd.Categorical([str(x) for x in v], categories=["1", "2"])
    return pd.DataFrame({"a": f([1, 1, 1, 2, 2, 2, 2, 2, 1, 2]), "b": f([1, 1, 2, 1, 2, 2, 2, 2, 2, 1]),
                         "y": [12, 14, 11, 20, 17, 23, 35, 46, 15, 16],
                         "f": f([1, 2, 1, 2, 1, 2, 1, 2, 1, 2])})


def test_sas_type_2_is_order_independent(glm_sas_101):
    an = anova(quietly(ml.lmer, "y ~ a*b + (1|f)", glm_sas_101), type=2)
    an2 = anova(quietly(ml.lmer, "y ~ b*a + (1|f)", glm_sas_101), type=2)
    r_all_equal(an.to_numpy(), an2.iloc[[1, 0, 2]].to_numpy(), TOL2)  # test_compare_sas.R:109
    r_all_equal([3.90131, 1.32753, 0.99565], an["F value"], TOL2)  # test_compare_sas.R:114


def test_sas_carrots_type_2():
    m = quietly(ml.lmer, "Preference ~ sens2*Homesize + (1+sens2|Consumer)", lmertest_data("carrots"))
    r_all_equal([54.8361, 5.16138, 1.03035], anova(m, type=2)["F value"], TOL)  # test_compare_sas.R:124


def test_sas_ham_type_2():
    m = quietly(ml.lmer, "Informed.liking ~ Product*Age + (1|Consumer)", lmertest_data("ham"))
    r_all_equal([2.48135, .005387, 1.48451], anova(m, type=2)["F value"], TOL2)  # test_compare_sas.R:132


@pytest.fixture(scope="module")
def carrots_three_way():
    return quietly(ml.lmer, "Preference ~ sens2*Homesize*sens1 + (1|Product)", lmertest_data("carrots"))


def test_sas_carrots_type_2_three_way(carrots_three_way):
    r_all_equal([16.4842, 14.0010, .526076, 1.18144, .107570, .335177, 1.05946],
                anova(carrots_three_way, type=2)["F value"], TOL)  # test_compare_sas.R:143


def test_sas_carrots_type_3_three_way(carrots_three_way):
    r_all_equal([16.9140, 14.0010, .481148, 1.18144, .074201, .335177, 1.05946],
                anova(carrots_three_way, type=3)["F value"], TOL)  # test_compare_sas.R:146


# ---------------------------------------------------------------- tests/test_anova.R


def test_anova_default_is_satterthwaite_type_3():
    m = quietly(ml.lmer, "Reaction ~ Days + (Days | Subject)", ml.load_dataset("sleepstudy"))
    an1 = ml.anova_ddf(m)
    an2 = ml.anova_ddf(m, ddf="Satterthwaite")
    r_all_equal(an1.to_numpy(), an2.to_numpy(), TOL)  # test_anova.R:29
    r_all_equal(an1.to_numpy(), anova(m, type=3).to_numpy(), TOL)  # test_anova.R:33 (an2b: type=3)


@pytest.fixture(scope="module")
def cake_temp():
    return quietly(ml.lmer, "angle ~ recipe * temp + (1|recipe:replicate)", ml.load_dataset("cake"))


def test_anova_cake_continuous_temp(cake_temp):
    an = anova(cake_temp)
    an_kr = anova(cake_temp, ddf="Kenward-Roger")
    cols = ["Sum Sq", "Mean Sq", "F value"]
    r_all_equal(an[cols].to_numpy(), an_kr[cols].to_numpy(), TOL)  # test_anova.R:121
    r_all_equal([2, 1, 2], an["NumDF"], 1e-6)  # test_anova.R:125
    r_all_equal([254.0157612, 222, 222], an["DenDF"], TOL)  # test_anova.R:126


def test_anova_cake_types_with_a_continuous_variable(cake_temp):
    an3, an2, an1 = (anova(cake_temp, type=t).to_numpy() for t in (3, 2, 1))
    r_all_equal(an3, an2, TOL)  # test_anova.R:135
    with pytest.raises(AssertionError):
        r_all_equal(an1, an2, 1e-8)  # test_anova.R:136: !isTRUE(all.equal(an1, an2, tolerance=1e-8))


def test_anova_cake_ordered_factor():
    m = quietly(ml.lmer, "angle ~ recipe * temperature + (1|recipe:replicate)", ml.load_dataset("cake"))
    an1, an2, an3 = (anova(m, type=t) for t in (1, 2, 3))
    r_all_equal(an1.to_numpy(), an2.to_numpy(), TOL)  # test_anova.R:147
    r_all_equal(an1.to_numpy(), an3.to_numpy(), TOL)  # test_anova.R:148
    an_kr = anova(m, type=1, ddf="Kenward-Roger")
    cols = ["Sum Sq", "Mean Sq", "F value"]
    r_all_equal(an1[cols].to_numpy(), an_kr[cols].to_numpy(), TOL)  # test_anova.R:160


# ---------------------------------------------------------------- tests/test_summary.R


def test_summary_coefficient_table():
    fm = quietly(ml.lmer, "Reaction ~ Days + (1|Subject) + (0+Days|Subject)", ml.load_dataset("sleepstudy"))
    mat = fm.summary(ddf="Satterthwaite").coefficients
    assert list(mat.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]  # test_summary.R:32
    assert list(mat.index) == list(fm.fixef().index)  # test_summary.R:35


# ---------------------------------------------------------------- tests/test_lmerTest_paper.R
# The validated outputs of lmerTest's paper (Kuznetsova, Brockhoff and Christensen 2017, JSS),
# inst/testdata/test_paper_objects.RData, exported to fixtures/lmerTest_paper.json by make_peer_data.R.

PAPER = load_fixture("lmerTest_paper")


def saved_table(name):
    t = PAPER[name]
    return pd.DataFrame({c: [np.nan if v is None else v for v in col] for c, col in zip(t["columns"], t["values"])},
                        index=t["rows"])


def tables_equal(saved, actual, tol=TOL):
    """all.equal(saved, actual, check.attributes = FALSE, tolerance = TOL) on two tables: column by column."""
    assert actual.shape == saved.shape, (actual.shape, saved.shape)
    for j in range(saved.shape[1]):
        r_all_equal(saved.iloc[:, j].to_numpy(), actual.iloc[:, j].to_numpy(), tol)


@pytest.fixture(scope="module")
def tvbo():
    return lmertest_data("TVbo")


def test_paper_8_2_anova(tvbo):
    tv = quietly(ml.lmer, "Sharpnessofmovement ~ TVset * Picture + (1 | Assessor) + (1 | Assessor:TVset) + "
                          "(1 | Assessor:Picture)", tvbo)  # test_lmerTest_paper.R:14
    tables_equal(saved_table("an8.2_save"), anova(tv))  # test_lmerTest_paper.R:57


def test_paper_8_2_kenward_roger_type_2(tvbo):
    tv = quietly(ml.lmer, "Sharpnessofmovement ~ TVset * Picture + (1 | Assessor) + (1 | Assessor:TVset) + "
                          "(1 | Assessor:Picture)", tvbo)
    tables_equal(saved_table("ankr8.2_save"), anova(tv, type=2, ddf="Kenward-Roger"))  # test_lmerTest_paper.R:69


def test_paper_8_3_summary():
    m = quietly(ml.lmer, "Preference ~ sens1 + sens2 + (1 + sens1 + sens2 | Consumer) + (1 | Product)",
                lmertest_data("carrots"))  # test_lmerTest_paper.R:24
    tables_equal(saved_table("sum8.3_save"), m.summary(ddf="Satterthwaite").coefficients)  # :58


def test_paper_8_4_anova_of_the_reduced_model(tvbo):
    """test_lmerTest_paper.R:30-39: anova(get_model(step(tv))).  mixedlite has no step(); the model
    step() keeps is read from lmerTest's saved elimination table (random terms with Eliminated == 0;
    the fixed effects are all kept)."""
    random = saved_table("elim_tab_random8.4_save")
    kept = [term for term, eliminated in random["Eliminated"].items() if eliminated == 0]
    assert kept == ["(1 | Assessor:TVset)", "(1 | Assessor:Picture)", "(1 | Assessor)"]
    assert (saved_table("elim_tab_fixed8.4_save")["Eliminated"] == 0).all()
    m = quietly(ml.lmer, "Sharpnessofmovement ~ TVset * Picture + " + " + ".join(kept), tvbo)
    tables_equal(saved_table("an8.4_save"), anova(m))  # test_lmerTest_paper.R:63


def test_paper_8_5_contrast_test(tvbo):
    tv = quietly(ml.lmer, "Sharpnessofmovement ~ TVset * Picture + (1 | Assessor:TVset) + (1 | Assessor:Picture) + "
                          "(1 | Assessor:Picture:TVset) + (1 | Repeat) + (1 | Repeat:Picture) + (1 | Repeat:TVset) + "
                          "(1 | Repeat:TVset:Picture) + (1 | Assessor)", tvbo)  # test_lmerTest_paper.R:30
    L = np.hstack([np.zeros((6, 6)), np.eye(6)])  # test_lmerTest_paper.R:47
    tables_equal(saved_table("con2_8.5_save"), ml.contest(tv, L))  # test_lmerTest_paper.R:65
