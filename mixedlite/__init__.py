"""mixedlite: mixed-effects models in a few readable modules, with lme4's numbers.

    import mixedlite as ml
    d = ml.load_dataset("sleepstudy")
    m = ml.lmer("Reaction ~ Days + (Days | Subject)", d)
    print(m.summary())

The modules come in three layers, a folder each; imports point down the list, never up
(``tests/test_architecture.py`` checks it):

1. ``core/``, the fitting core -- ``reference`` (the slow, obvious version: read it first),
   ``formula``, ``transforms``, ``design``, ``terms``, ``pls`` (the penalized least squares of both
   model types), ``lmm`` (lmer), ``pirls``, ``families``, ``glmm``, ``negbin`` (glmer), ``fitting``
   (the one optimisation driver), ``optimize``, ``diagnostics``, ``display`` (lme4's printed output)
   and ``model``: what every fitted model provides, the capabilities inference asks for, and the
   table from the chapters' symbols (u_j, tau, theta = tau / sigma, ...) to the code's names;
2. ``inference/`` -- ``anova``, ``anova_contrasts``, ``anova_tables``, ``satterthwaite``,
   ``kenward_roger``, ``contest``, ``ls_means``, ``ranova``, ``profile``, ``bootstrap``,
   ``prediction``, gathered by ``inference``;
3. ``course/``, the course's helpers -- ``plots``, ``widgets``, ``report``, ``selfcheck`` and its
   question bank, loaded when first used (``ml.plots``, ``ml.widgets``, ...).
"""
# the fitting core: it imports nothing below
from .datasets import list_datasets, load_dataset
from .core.diagnostics import ConvergenceWarning, SingularFitWarning, design_effect, effective_sample_size, icc
from .core.formula import expand_formula, parse_formula
from .core.glmm import GeneralizedLinearMixedModel, glmer, overdispersion
from .core.lmm import LinearMixedModel, lmer
from .core.negbin import glmer_nb
# inference: uses the core, and gives every fit m.confint(), m.predict_interval() and m.summary(ddf=...)
# (mixedlite.core.model.inference_method), so it is always imported with the package
from .inference.contest import contest
from .inference.inference import anova, anova_ddf, bootmer, coefficient_tests, confint, drop1, pbmodcomp, variance_test
from .inference.ls_means import ls_means
from .inference.prediction import predict_interval
from .inference.ranova import ranova

__all__ = [
    # fitting
    "lmer", "glmer", "glmer_nb", "LinearMixedModel", "GeneralizedLinearMixedModel",
    # data and formulas
    "load_dataset", "list_datasets", "expand_formula", "parse_formula",
    # inference
    "anova", "anova_ddf", "variance_test", "coefficient_tests", "confint", "bootmer", "pbmodcomp",
    "drop1", "ranova", "ls_means", "contest", "predict_interval",
    # diagnostics
    "icc", "design_effect", "effective_sample_size", "overdispersion", "ConvergenceWarning", "SingularFitWarning",
]

_LAZY_MODULES = ("plots", "widgets", "report", "selfcheck")  # matplotlib/ipywidgets load on first use, not at import


def __getattr__(name):
    """``ml.plots``, ``ml.widgets``, ``ml.report``, ``ml.selfcheck``: imported when first touched."""
    if name in _LAZY_MODULES:
        import importlib
        return importlib.import_module(f".course.{name}", __name__)
    raise AttributeError(f"module 'mixedlite' has no attribute {name!r}")
