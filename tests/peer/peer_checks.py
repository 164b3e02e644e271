"""The comparison rules of the peer test suites, reproduced exactly, and shared loaders.

Each ported assertion keeps its original rule and tolerance:

* numpy's ``assert_almost_equal(actual, desired, decimal)``: ``|desired - actual| < 1.5 * 10**-decimal``;
* numpy's ``assert_allclose(actual, desired, rtol, atol)``: ``|actual - desired| <= atol + rtol * |desired|``;
* R's ``all.equal(target, current, tolerance)`` (also testthat's ``expect_equal``): the mean absolute
  difference relative to the mean absolute target (absolute if that mean is below the tolerance);
* Julia's ``isapprox(x, y; atol, rtol)`` (``≈``: rtol = sqrt(eps)):
  ``norm(x - y) <= max(atol, rtol * max(norm(x), norm(y)))``.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

PEER = Path(__file__).resolve().parent
DATA = PEER / "data"
JULIA_DEFAULT_RTOL = float(np.sqrt(np.finfo(float).eps))


def almost_equal(actual, desired, decimal):
    """numpy.testing.assert_almost_equal's rule."""
    actual, desired = np.asarray(actual, float), np.asarray(desired, float)
    assert actual.shape == desired.shape or actual.size == desired.size, (actual.shape, desired.shape)
    diff = np.abs(desired.ravel() - actual.ravel())
    assert np.all(diff < 1.5 * 10.0 ** (-decimal)), f"max |difference| {diff.max():.3g}: {actual} vs {desired}"


def allclose(actual, desired, rtol=1e-7, atol=0.0):
    """numpy.testing.assert_allclose's rule."""
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(desired, float), rtol=rtol, atol=atol)


def r_all_equal(target, current, tolerance=1.5e-8):
    """R's all.equal.numeric (testthat's expect_equal): mean relative difference below tolerance."""
    target, current = np.asarray(target, float).ravel(), np.asarray(current, float).ravel()
    assert target.shape == current.shape, (target.shape, current.shape)
    xy = np.mean(np.abs(target - current))
    xn = np.mean(np.abs(target))
    diff = xy / xn if np.isfinite(xn) and xn > tolerance else xy
    assert diff < tolerance, f"mean relative difference {diff:.3g} >= {tolerance:g}: {current} vs target {target}"


def julia_isapprox(x, y, atol=0.0, rtol=None):
    """Julia's isapprox (rtol defaults to sqrt(eps) when atol is 0, as Julia's)."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if rtol is None:
        rtol = JULIA_DEFAULT_RTOL if atol == 0 else 0.0
    gap = np.linalg.norm(x - y)
    bound = max(atol, rtol * max(np.linalg.norm(x), np.linalg.norm(y)))
    assert gap <= bound, f"norm of difference {gap:.3g} > {bound:.3g}: {x} vs {y}"


def quietly(fn, *args, **kwargs):
    """Fit without printing the expected singular-fit and convergence warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def covariance_matrix(model, group):
    """The random-effects covariance matrix of one grouping factor (data units), from varcorr()."""
    vc = model.varcorr()
    rows = vc[vc.grp == group]
    names = list(rows[rows.var2.isna()].var1)
    out = pd.DataFrame(0.0, index=names, columns=names)
    for r in rows.itertuples():
        if pd.isna(r.var2):
            out.loc[r.var1, r.var1] = r.vcov
        else:
            out.loc[r.var1, r.var2] = out.loc[r.var2, r.var1] = r.vcov
    return out


def load_fixture(name):
    """A JSON fixture written by make_peer_data.R: lme4's tight-tolerance refits, lmerTest's saved outputs."""
    return json.loads((PEER / "fixtures" / f"{name}.json").read_text())
