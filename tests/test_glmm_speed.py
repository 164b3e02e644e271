"""glmer's shortcuts for speed give the numbers of the plain computation.

* With an observation-level term first (``(1 | INDEX)`` on grouseticks: 403 levels, one per row), E' E in
  the Schur complement is summed over the pairs of nonzeros of E; it must equal the dense product.
* A Nelder-Mead restart that lowers the deviance by less than ``glmm.SAME_OPTIMUM`` ends the restarts.
"""
import warnings

import numpy as np

import mixedlite as ml
import mixedlite.glmm as glmm
from mixedlite.design import Design
from mixedlite.families import get_family
from mixedlite.pirls import PIRLS

OBSERVATION_LEVEL = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"


def grouseticks_pirls():
    design = Design(OBSERVATION_LEVEL, ml.load_dataset("grouseticks"))
    response = glmm.poisson_response(design.response(), None, "TICKS")
    return PIRLS(design, response, get_family("poisson"))


def test_sparse_schur_product_equals_the_dense_one():
    pirls = grouseticks_pirls()
    assert pirls.first.group == "INDEX" and pirls._schur_pairs is not None
    rng = np.random.default_rng(1)
    sqrtw = rng.uniform(0.5, 2.0, pirls.n)
    for with_beta in (False, True):
        f = pirls.factor(np.array([0.54, 0.75, 0.53]), sqrtw, with_beta)
        E2 = f["E"].reshape(-1, f["m"])
        np.testing.assert_allclose(pirls._schur_product(E2), E2.T @ E2, rtol=1e-12, atol=1e-12)


def test_the_dense_schur_product_is_kept_for_small_models():
    design = Design("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", ml.load_dataset("grouseticks"))
    pirls = PIRLS(design, glmm.poisson_response(design.response(), None, "TICKS"), get_family("poisson"))
    assert pirls._schur_pairs is None


def test_restarts_end_when_one_finds_the_same_optimum(monkeypatch):
    """The uncentred HEIGHT fails lme4's gradient check at the optimum (lme4 1.1-31 warns too: max|grad|
    0.0028); one Nelder-Mead restart lowers the deviance by 3e-7, a second one found nothing."""
    restarts = []
    minimize = glmm.minimize

    def counting(fun, start, lower, optimizer="bobyqa", **kwargs):
        result = minimize(fun, start, lower, optimizer=optimizer, **kwargs)
        if optimizer == glmm.RESTART_OPTIMIZER:
            restarts.append(result.fun)
        return result

    monkeypatch.setattr(glmm, "minimize", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        m = ml.glmer(OBSERVATION_LEVEL, ml.load_dataset("grouseticks"), family="poisson")
    assert len(restarts) == 1
    assert m.objective < 1780.5427069958  # lme4's optimum
