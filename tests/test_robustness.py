"""Designs that crashed before (issue 10): each case fails on the code before its fix."""
import numpy as np
import pandas as pd
import pytest

import mixedlite as ml


def _random_slopes(n_groups, per_group=6, seed=1):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=g.size)
    u = rng.normal(size=(n_groups, 2)) * [1.0, 0.5]
    y = 1 + 0.5 * x + u[g, 0] + u[g, 1] * x + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g), "k": rng.binomial(1, 1 / (1 + np.exp(-y / 2)))})


@pytest.mark.parametrize("n_groups", [70, 120, 200])
@pytest.mark.filterwarnings("ignore::mixedlite.SingularFitWarning")
def test_random_slopes_with_int8_category_codes(n_groups):
    """pandas keeps the codes of a factor with < 128 levels as int8: codes * p must not wrap around."""
    d = _random_slopes(n_groups)
    assert d.g.cat.codes.dtype == (np.int8 if n_groups < 127 else np.int16)
    m = ml.lmer("y ~ x + (x | g)", d)
    assert m.ranef()["g"].shape == (n_groups, 2)
    g = ml.glmer("k ~ x + (x | g)", d, family="binomial")
    assert np.isfinite(g.objective)


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (Days || Subject)",
                                     "Reaction ~ Days + (1 | Subject)"])
def test_varcorr_has_one_missing_marker(formula):
    """var1/var2 are None where lme4 prints NA, whatever the model (pandas stored NaN for correlated terms)."""
    vc = ml.lmer(formula, ml.load_dataset("sleepstudy")).varcorr()
    missing = vc["var2"].isna()
    assert vc["var1"].dtype == object and vc["var2"].dtype == object
    assert all(value is None for value in vc.loc[missing, "var2"])
    assert vc["var1"].iloc[-1] is None and vc["grp"].iloc[-1] == "Residual"
    assert (~missing).sum() == (1 if "(Days | Subject)" in formula else 0)
