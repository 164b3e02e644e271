"""mixedlite: mixed-effects models in a few readable modules, with lme4's numbers.

    import mixedlite as ml
    d = ml.load_dataset("sleepstudy")
    m = ml.lmer("Reaction ~ Days + (Days | Subject)", d)
    print(m.summary())
"""
from .datasets import list_datasets, load_dataset
from .diagnostics import ConvergenceWarning, SingularFitWarning, design_effect, effective_sample_size, icc
from .formula import expand_formula, parse_formula
from .glmm import GeneralizedLinearMixedModel, glmer, overdispersion
from .contest import contest
from .inference import anova, anova_ddf, bootmer, coefficient_tests, confint, drop1, pbmodcomp, variance_test
from .lmm import LinearMixedModel, lmer
from .ls_means import ls_means
from .ranova import ranova
from .negbin import glmer_nb

__all__ = [
    # fitting
    "lmer", "glmer", "glmer_nb", "LinearMixedModel", "GeneralizedLinearMixedModel",
    # data and formulas
    "load_dataset", "list_datasets", "expand_formula", "parse_formula",
    # inference
    "anova", "anova_ddf", "variance_test", "coefficient_tests", "confint", "bootmer", "pbmodcomp",
    "drop1", "ranova", "ls_means", "contest",
    # diagnostics
    "icc", "design_effect", "effective_sample_size", "overdispersion", "ConvergenceWarning", "SingularFitWarning",
]

_LAZY_MODULES = ("plots", "widgets", "report", "selfcheck")  # matplotlib/ipywidgets load on first use, not at import


def __getattr__(name):
    """``ml.plots``, ``ml.widgets``, ``ml.report``, ``ml.selfcheck``: imported when first touched."""
    if name in _LAZY_MODULES:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mixedlite' has no attribute {name!r}")
