"""Inference for mixed models: tests of fixed effects, model comparison, confidence intervals.

The source text's three ways to a p-value, each in its own module:

* likelihood-ratio tests between nested models, with the boundary-corrected mixture for
  variance components: :mod:`mixedlite.inference.anova` (lme4's ``anova``);
* t- and F-tests of fixed effects with approximate denominator degrees of freedom:
  Satterthwaite (:mod:`mixedlite.inference.satterthwaite`, lmerTest) and Kenward-Roger
  (:mod:`mixedlite.inference.kenward_roger`, pbkrtest);
* lmerTest's tables built on them: F-tests of terms (:mod:`mixedlite.inference.anova_tables`, with the
  hypotheses of :mod:`mixedlite.inference.anova_contrasts`), tests of any contrast (:mod:`mixedlite.inference.contest`),
  least-squares means (:mod:`mixedlite.inference.ls_means`) and LRTs of random terms (:mod:`mixedlite.inference.ranova`);
* the parametric bootstrap: :mod:`mixedlite.inference.bootstrap` (lme4's ``bootMer``, pbkrtest's
  ``PBmodcomp``).

Confidence intervals (lme4's ``confint``): Wald, profile (:mod:`mixedlite.inference.profile`) and
percentile bootstrap.  This module gathers them behind the names the models call:
``m.confint()`` and ``m.summary(ddf=...)`` are :func:`confint` and :func:`coefficient_tests`,
handed to the models with :func:`mixedlite.core.model.inference_method` (the models never import
this module; it imports them).
"""
import numpy as np
import pandas as pd
from scipy import stats

from .anova import anova, mixture_pvalue, variance_test
from .anova_tables import anova_ddf, drop1
from .bootstrap import BootstrapResult, bootmer, pbmodcomp, percent_labels
from .contest import ddf_method as _ddf_method
from ..core.model import inference_method
from .profile import profile_confint, sdcor_names, theta_to_sdcor

__all__ = ["BootstrapResult", "anova", "anova_ddf", "bootmer", "coefficient_tests", "confint", "mixture_pvalue",
           "pbmodcomp", "variance_test", "drop1"]


@inference_method
def coefficient_tests(model, ddf="Satterthwaite"):
    """lmerTest's coefficient table: Estimate, Std. Error, df, t value, Pr(>|t|) per fixed effect.

    ``ddf="Satterthwaite"`` keeps lme4's standard errors; ``"Kenward-Roger"`` (REML fits only)
    uses pbkrtest's adjusted covariance for the standard errors and its df.
    """
    method = _ddf_method(model, ddf)
    p = len(model.beta)
    rows = [method.t_test(np.eye(p)[i]) for i in range(p)]
    return pd.DataFrame(rows, index=model.design.fixed_names,
                        columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])


def _parameter_names(model):
    return sdcor_names(model) + list(model.design.fixed_names)


def _select(names, parm):
    """lme4's ``parm``: names, positions, or "theta_" (variance parameters) / "beta_" (fixed effects)."""
    if parm is None:
        return list(names)
    parm = [parm] if isinstance(parm, (str, int)) else list(parm)
    n_var = sum(1 for n in names if n.startswith(("sd_", "cor_")) or n == "sigma")
    chosen = []
    for p in parm:
        if p == "theta_":
            chosen += names[:n_var]
        elif p == "beta_":
            chosen += names[n_var:]
        elif isinstance(p, (int, np.integer)):
            chosen.append(names[p])
        elif p in names:
            chosen.append(p)
        else:
            raise ValueError(f"unknown parameter {p!r}; choose from {', '.join(names)} (or 'theta_', 'beta_')")
    return list(dict.fromkeys(chosen))


@inference_method
def confint(model, parm=None, level=0.95, method="Wald", nsim=500, seed=None, progress=True):
    """Confidence intervals as lme4's ``confint(m, oldNames = FALSE)``.

    Rows: the random-effect standard deviations and correlations (``sd_(Intercept)|Subject``,
    ``cor_Days.(Intercept)|Subject``, ...), ``sigma``, then the fixed effects; columns named from
    ``level`` ("2.5 %", "97.5 %").

    * ``"Wald"``: ``beta +- z SE`` for fixed effects; NaN for variance parameters (as lme4:
      Wald intervals for variances are unreliable).
    * ``"profile"``: likelihood-profile intervals (:mod:`mixedlite.inference.profile`).
    * ``"boot"``: percentile intervals from ``nsim`` parametric-bootstrap refits (``seed``).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    names = _parameter_names(model)
    chosen = _select(names, parm)
    alpha = np.array([(1 - level) / 2, (1 + level) / 2])
    columns = percent_labels(alpha)
    if method == "Wald":
        z = stats.norm.ppf(alpha)
        se = pd.Series(np.sqrt(np.diag(model._vcov)), index=model.design.fixed_names)
        beta = pd.Series(model.beta, index=model.design.fixed_names)
        rows = [beta[n] + z * se[n] if n in beta.index else [np.nan, np.nan] for n in chosen]
        return pd.DataFrame(rows, index=chosen, columns=columns)
    if method == "profile":
        _, ci = profile_confint(model, chosen, level)
        return pd.DataFrame(ci, index=chosen, columns=columns)
    if method == "boot":
        result = bootmer(model, _all_parameters, nsim=nsim, seed=seed, progress=progress)
        return result.confint(level).loc[chosen].set_axis(columns, axis=1)
    raise ValueError(f"method must be 'Wald', 'profile' or 'boot', not {method!r}")


def _all_parameters(model):
    """sd/cor parameters, sigma and fixed effects of a fit, with lme4's oldNames=FALSE names."""
    sdcor = theta_to_sdcor(model.design, model._theta, model.sigma)
    values = np.r_[sdcor if model.has_residual_variance else sdcor[:-1], model.beta]  # GLMMs have no sigma
    return pd.Series(values, index=_parameter_names(model))
