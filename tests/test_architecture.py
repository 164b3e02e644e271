"""The architecture of mixedlite: three layers, one folder each, with import arrows pointing one way
and no circle.

Every module's imports are read with ``ast`` -- at the top and inside functions alike, since a
lazy import is still an arrow -- and checked against the layers of ``mixedlite/__init__.py``:

    core/ (and datasets/)  <-  inference/  <-  course/ (the course's helpers)  <-  the package (__init__)

A module may import from its own layer and the layers to its left, never to its right.  A module's
layer is its folder.  The fitted-model contract of ``mixedlite/core/model.py`` is
checked too: capabilities are declared by every model class, and no code duck-types with hasattr.
No attribute is set on ``self`` that nothing reads (issue 13: "no dead attributes").
"""
import ast
from pathlib import Path

import pytest

import mixedlite as ml
from mixedlite.core.glmm import GeneralizedLinearMixedModel
from mixedlite.core.lmm import LinearMixedModel
from mixedlite.core.model import MixedModel
from mixedlite.core.negbin import NegativeBinomialMixedModel

PACKAGE = Path(ml.__file__).parent

LAYER_FOLDERS = {"core", "inference", "course"}
ORDER = ["core", "inference", "course", "package"]  # a layer may import only from itself and those before it


def module_name(path):
    """``lmm`` for mixedlite/core/lmm.py, ``datasets`` for mixedlite/datasets/__init__.py."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(name):
    """The module of MODULES that holds ``mixedlite.<name>`` (``formula.parse_formula`` is in ``formula``);
    a name of the package itself (``from . import lmer``) is in ``__init__``."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else "__init__"


def imported_modules(name):
    """The mixedlite modules that module ``name`` imports anywhere in its code, with line numbers."""
    path = MODULES[name]
    package = [] if name == "__init__" else name.split(".")[: None if path.name == "__init__.py" else -1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name.partition(".")[2] for a in node.names if a.name.startswith("mixedlite.")]
        elif isinstance(node, ast.ImportFrom) and node.level:
            module = ".".join(package[: len(package) - node.level + 1] + [node.module or ""]).strip(".")
            targets = [f"{module}.{a.name}".strip(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mixedlite":
            module = node.module.partition(".")[2]
            targets = [f"{module}.{a.name}".strip(".") for a in node.names]
        else:
            continue
        found += [(resolve(target), node.lineno) for target in targets]
    return found


GRAPH = {name: imported_modules(name) for name in MODULES}


def layer_of(name):
    """The folder of a module (``core.lmm``: core); the bundled data belong to the core."""
    top = name.split(".")[0]
    if top in LAYER_FOLDERS:
        return top
    return {"datasets": "core", "__init__": "package"}.get(top)


def test_every_module_lives_in_a_layer_folder():
    unplaced = [name for name in MODULES if layer_of(name) is None]
    assert not unplaced, f"move these modules into core/, inference/ or course/: {unplaced}"
    assert {"core.lmm", "core.glmm", "core.model", "inference.inference", "inference.profile",
            "course.plots"} <= set(MODULES)  # the scan found the package


def test_imports_point_from_helpers_to_inference_to_core_never_back():
    wrong = []
    for name, imports in GRAPH.items():
        rank = ORDER.index(layer_of(name))
        for target, line in imports:
            if ORDER.index(layer_of(target)) > rank:
                wrong.append(f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} ({layer_of(name)}) imports "
                             f"{target} ({layer_of(target)})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def find_cycle(graph):
    """One import circle of ``graph`` (a list of modules, first = last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted({t for t, _ in graph.get(node, ())}):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_import_graph_has_no_circle():
    cycle = find_cycle({name: [(t, line) for t, line in imports if t != name] for name, imports in GRAPH.items()})
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_circles():
    assert find_cycle({"a": [("b", 1)], "b": [("c", 1)], "c": [("a", 1)]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": [("b", 1)], "b": [("c", 1)], "c": []}) is None


def test_lazy_imports_are_read_too():
    """The scan sees imports inside functions: widgets imports lmm only when an app is built."""
    assert "core.lmm" in {target for target, _ in GRAPH["course.widgets"]}


# ------------------------------------------------------------ the fitted-model contract


@pytest.mark.parametrize("cls", [LinearMixedModel, GeneralizedLinearMixedModel, NegativeBinomialMixedModel])
def test_every_model_class_declares_its_capabilities(cls):
    assert issubclass(cls, MixedModel)
    for capability in MixedModel.__annotations__:
        assert isinstance(getattr(cls, capability), bool), f"{cls.__name__} does not declare {capability}"


def test_capabilities_of_linear_and_generalized_models():
    assert LinearMixedModel.is_linear and LinearMixedModel.has_residual_variance
    assert not GeneralizedLinearMixedModel.is_linear and not GeneralizedLinearMixedModel.has_residual_variance


def test_no_duck_typing_with_hasattr():
    """Models are asked for their declared capabilities, never probed with hasattr."""
    found = [f"{MODULES[name].name}:{node.lineno}" for name in MODULES
             for node in ast.walk(ast.parse(MODULES[name].read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr"]
    assert not found, f"hasattr in {found}: declare a capability in mixedlite/core/model.py instead"


def test_methods_that_do_not_apply_say_which_and_why():
    sleep = ml.load_dataset("sleepstudy")
    m = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    cbpp = ml.load_dataset("cbpp")
    g = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    # ranova(g), anova_ddf(g), ls_means(g): tests/test_lmertest_tables.py (test_glmms_are_refused_with_a_clear_error)
    with pytest.raises(ValueError, match="ddf='Kenward-Roger'.*is for linear mixed models.*z-tests"):
        ml.coefficient_tests(g, "Kenward-Roger")
    with pytest.raises(TypeError, match="likelihood-ratio test needs a fitted model.*not a str"):
        ml.anova(m, "Reaction ~ 1 + (1 | Subject)")
    with pytest.raises(TypeError, match="bootmer needs a fitted model.*not a DataFrame"):
        ml.bootmer(sleep, lambda fit: fit.sigma, nsim=2)


READERS = [PACKAGE.parent / folder for folder in ("tests", "benchmarks", "chapters", "solutions")]


def attributes_set_on_self(tree):
    """``(attribute, line)`` for every ``self.<attribute> = ...`` in a module."""
    return [(node.attr, node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name) and node.value.id == "self"]


def dead_attributes():
    """Attributes a package module sets on ``self`` that nothing reads: no ``.<attribute>`` load (or
    ``getattr(x, "<attribute>")``) in the package, and no ``.<attribute>`` in the tests, benchmarks,
    chapters or solutions (an attribute the course's users read is part of the API)."""
    trees = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}
    read = {node.attr for tree in trees.values() for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)}
    read |= {node.args[1].value for tree in trees.values() for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr"
             and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)}
    outside = "\n".join(path.read_text() for folder in READERS for pattern in ("*.py", "*.ipynb")
                        for path in folder.rglob(pattern) if ".ipynb_checkpoints" not in path.parts)
    return [f"{MODULES[name].name}:{line} self.{attribute}" for name, tree in trees.items()
            for attribute, line in attributes_set_on_self(tree)
            if attribute not in read and f".{attribute}" not in outside]


def test_no_dead_attributes():
    dead = dead_attributes()
    assert not dead, f"attributes set but never read (remove them, or read them): {dead}"


def test_the_dead_attribute_finder_finds_one():
    tree = ast.parse("class A:\n    def __init__(self):\n        self.never_read_anywhere_xyz = 1\n")
    assert attributes_set_on_self(tree) == [("never_read_anywhere_xyz", 3)]
