"""Inference for mixed models: tests of fixed effects, model comparison, confidence intervals.

The source text's three ways to a p-value, each in its own module:

* likelihood-ratio tests between nested models, with the boundary-corrected mixture for
  variance components: :mod:`mixedlite.anova` (lme4's ``anova``);
* t- and F-tests of fixed effects with approximate denominator degrees of freedom:
  Satterthwaite (:mod:`mixedlite.satterthwaite`, lmerTest) and Kenward-Roger
  (:mod:`mixedlite.kenward_roger`, pbkrtest);
* the parametric bootstrap: :mod:`mixedlite.bootstrap` (lme4's ``bootMer``, pbkrtest's
  ``PBmodcomp``).

Confidence intervals (lme4's ``confint``): Wald, profile (:mod:`mixedlite.profile`) and
percentile bootstrap.  This module gathers them behind the names the models call.
"""
from .anova import anova, mixture_pvalue, variance_test

__all__ = ["anova", "mixture_pvalue", "variance_test"]
