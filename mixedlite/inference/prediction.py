"""Prediction intervals for mixed models, by simulation: :meth:`MixedModel.predict_interval`.

A prediction for a row of newdata, ``x' beta + z' b`` (plus noise for a new observation), is
uncertain for up to three reasons, and which ones apply depends on what is predicted:

=====================  ======================================================================
kind                   simulated draws of the prediction
=====================  ======================================================================
``population mean``    ``x' beta*``, ``beta* ~ N(beta-hat, vcov(beta))``: fixed-effects
                       uncertainty only (``re_form="~0"``)
``known cluster``      ``x' beta* + z' b*``, ``b* ~ N(b-hat_j, condVar_j)``: the cluster's
                       conditional mode and its conditional covariance (``ranef(condVar=TRUE)``),
                       plus residual noise ``e* ~ N(0, sigma^2)`` for a new observation
                       (of prior weight 1, for a model fitted with ``weights=``)
``new cluster``        ``x' beta* + z' b*``, ``b* ~ N(0, Sigma)``: a new cluster's effects drawn
                       from the estimated random-effects covariance (not set to 0, which is what
                       ``predict(allow_new_levels=True)`` does), plus residual noise
=====================  ======================================================================

With several grouping factors a row can be ``known and new clusters`` (a known plate, a new
sample): each term draws as its level is known or new.  All rows of the same new level share
their draws.  The interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of
``nsim`` draws; ``fit`` is the point prediction (``predict(allow_new_levels=True)``).

For GLMMs the draws are of the linear predictor (``type="link"``) or the mean
(``type="response"``): the interval is for the conditional mean of the row, with no
observation-level noise (a binomial or Poisson draw around it is discrete).

How it compares:

* merTools' ``predictInterval`` simulates the same way (fixed effects from ``vcov``, known
  levels from their conditional variances, residual noise) but gives new levels effects of 0
  unless asked; here a new cluster always draws its effects from Sigma.  Like merTools, the
  correlation between beta-hat and the conditional modes is ignored, which makes known-cluster
  intervals slightly conservative when clusters are few.
* lme4's ``predict`` gives no intervals; its documentation points to ``bootMer``: refit the
  model to parametric-bootstrap samples and take quantiles of the refits' predictions.  That
  also carries the uncertainty of the variance parameters (treated as known here), at the
  cost of ``nsim`` refits (:func:`mixedlite.bootmer`).
"""
import numpy as np
import pandas as pd

from ..core.formula import grouping_factor, model_matrix
from ..core.model import inference_method

KINDS = ("population mean", "known cluster", "new cluster", "known and new clusters")


def _root(cov):
    """A square root A of a covariance (or a stack of them) with ``A A' = cov``; singular ones allowed."""
    values, vectors = np.linalg.eigh(cov)
    return vectors * np.sqrt(np.clip(values, 0, None))[..., None, :]


@inference_method
def predict_interval(model, newdata, level=0.95, nsim=1000, seed=None, re_form=None, include_residual=True,
                     type="link"):
    """Simulated prediction intervals for the rows of newdata (see the module docstring).

    Returns a DataFrame indexed as newdata with columns ``fit``, ``lower``, ``upper`` and ``kind``
    (one of ``population mean``, ``known cluster``, ``new cluster``, ``known and new clusters``).
    ``re_form`` chooses the random terms as in :meth:`predict` (``"~0"``: the population mean);
    ``include_residual=False`` gives the interval of a cluster's mean instead of a new observation
    (linear models); ``type="response"`` the mean's scale of a GLMM.
    """
    if not isinstance(newdata, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame of the rows to predict, got {newdata.__class__.__name__}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    if int(nsim) != nsim or nsim < 100:
        raise ValueError(f"nsim must be a whole number of at least 100 simulations (1000 is usual), got {nsim!r}")
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")
    rng = np.random.default_rng(seed)
    nsim = int(nsim)
    masks = model._re_form_masks(re_form)
    fit = model.predict(newdata, re_form=re_form, allow_new_levels=True, type="link").to_numpy()
    X = model._new_fixed_matrix(newdata)
    n = len(newdata)
    draws = fit[:, None] + X @ (_root(model._vcov) @ rng.standard_normal((X.shape[1], nsim)))
    known_somewhere, new_somewhere = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    covariances = model._term_covariances()
    for k, (term, mask) in enumerate(zip(model.design.terms, masks)):
        if not mask.any():
            continue
        rows = model_matrix(term.lhs, newdata, state=model.design.state)[term.names].to_numpy() * mask
        position = {name: i for i, name in enumerate(term.levels)}
        levels, row_level = np.unique(grouping_factor(term.group, newdata).astype(str).to_numpy(), return_inverse=True)
        index = np.array([position.get(name, -1) for name in levels], dtype=int)
        known = index >= 0
        roots = np.where(known[:, None, None], _root(model._cond_var[k][np.maximum(index, 0)]),
                         _root(covariances[k])[None])                       # (levels here, p, p)
        effects = roots @ rng.standard_normal((len(levels), term.p, nsim))  # deviations from the modes (or 0)
        draws += np.einsum("ip,ips->is", rows, effects[row_level])
        known_somewhere |= known[row_level]
        new_somewhere |= ~known[row_level]
    population = ~(known_somewhere | new_somewhere)
    if include_residual and model.has_residual_variance:
        draws += np.where(population[:, None], 0.0, model.sigma * rng.standard_normal((n, nsim)))
    if type == "response":
        fit, draws = model._inverse_link(fit), model._inverse_link(draws)
    lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=1)
    kind = np.select([population, ~new_somewhere, ~known_somewhere], KINDS[:3], default=KINDS[3])
    return pd.DataFrame({"fit": fit, "lower": lower, "upper": upper, "kind": kind}, index=newdata.index)
