"""The formula language: ``y ~ fixed + (expr | group)``, as lme4 reads it.

A formula has a response, fixed-effects terms and random-effects terms.

* Fixed part: ``a + b``, interactions ``a:b``, crossing ``a*b = a + b + a:b``,
  nesting ``a/b = a + a:b``, ``(a + b + c)^2`` (all terms up to two-way interactions),
  ``- term`` to remove a term, ``-1`` or ``0 +`` to drop the intercept, ``C(f, sum)`` (a factor
  with the named contrasts), ``offset(expr)``
  (added to the linear predictor with coefficient 1; several are summed), and transforms
  evaluated on the data (``I(x^2)``, ``log(x)``, and the stateful ``scale(x)``, ``poly(x, k)``,
  whose training parameters are reused on new data: see :mod:`mixedlite.core.transforms`).
* Random part: ``(expr | g)`` is one term with correlated effects;
  ``(1 + x || g)`` becomes uncorrelated terms ``(1 | g) + (0 + x | g)``;
  ``(1 | a/b/c)`` becomes ``(1 | c:(b:a)) + (1 | b:a) + (1 | a)`` (lme4's ``findbars``
  names and order), and ``a:b`` groups by the combinations of ``a`` and ``b``.

The model matrix follows R's ``model.matrix``: treatment contrasts (polynomial for ordered
factors) unless ``contrasts=`` says otherwise, and column names such as ``(Intercept)``,
``period2``, ``recipeB:temp``, ``recipe1`` (sum contrasts) and ``poly(x, 2)1``.
"""
import ast
import functools
import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .transforms import STATEFUL, contrast_kind, contrast_matrix, polynomial_contrasts  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after expansion."""

    lhs: str
    group: str

    def __str__(self):
        return f"({self.lhs} | {self.group})"


@dataclass(frozen=True)
class Formula:
    """A parsed formula: response text, fixed-part text, expanded random terms and offset expressions."""

    response: str
    fixed: str
    random: tuple
    offsets: tuple = ()

    def __str__(self):
        fixed = [self.fixed] + [f"offset({expr})" for expr in self.offsets]
        return f"{self.response} ~ " + " + ".join(fixed + [str(t) for t in self.random])


def supported():
    """What the formula language knows, for error messages."""
    functions = ", ".join(f"{name}()" for name in list(FUNCTIONS) + list(STATEFUL) if name != "cbind")
    return ("Supported: terms a + b, a:b, a*b, a/b, (a + b + c)^2, - term, 0 + or - 1 (no intercept), "
            f"offset(expr), random terms (expr | group) and (expr || group); functions {functions}, "
            "C(factor, sum); "
            "arithmetic + - * / ^ and comparisons inside I(), e.g. I(x^2)")


# ---------------------------------------------------------------- splitting text


def split_top(text, separators):
    """Split ``text`` at ``separators`` that are not inside parentheses.

    Returns (pieces, operators): ``operators[i]`` precedes ``pieces[i]`` ('' for the first).
    """
    pieces, operators, depth, start, op = [], [], 0, 0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and ch in separators:
            pieces.append(text[start:i].strip())
            operators.append(op)
            op, start = ch, i + 1
        i += 1
    pieces.append(text[start:].strip())
    operators.append(op)
    return pieces, operators


def _bar(piece):
    """The top-level ``|`` or ``||`` inside a parenthesised random term, or None."""
    inner, depth = piece[1:-1], 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and ch == "|":
            return "||" if inner[i + 1 : i + 2] == "|" else "|"
    return None


def _is_call(piece, name):
    """Is ``piece`` one call ``name(...)`` (its first parenthesis closes at the end)?"""
    if not (piece.startswith(name + "(") and piece.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(piece[len(name):], start=len(name)):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return i == len(piece) - 1
    return False


def expand_group(group):
    """lme4's ``expandSlash``: ``a/b/c`` -> ``['c:(b:a)', 'b:a', 'a']``, innermost first (``findbars``' order).

    ``a:b`` and ``a`` are unchanged.
    """
    parts = split_top(group, "/")[0]
    nested = [parts[0]]
    for part in parts[1:]:
        outer = nested[-1]
        nested.append(f"{part}:({outer})" if ":" in outer else f"{part}:{outer}")
    return nested[::-1]


def group_parts(group):
    """The factors whose combinations make a grouping factor: ``c:(b:a)`` -> ``['c', 'b', 'a']``."""
    parts = []
    for part in split_top(group, ":")[0]:
        if part.startswith("(") and part.endswith(")"):
            parts += group_parts(part[1:-1])
        else:
            parts.append(part)
    return parts


def _same_term(a, b):
    return set(a.split(":")) == set(b.split(":"))


def _fixed_term_labels(text):
    """The term labels of a fixed-effects expression, and whether it keeps an intercept."""
    intercept, labels, removed = True, [], []
    pieces, operators = split_top(text, "+-")
    for piece, op in zip(pieces, operators):
        if piece == "":
            continue
        if piece in ("0", "1"):
            intercept = piece == "1" and op != "-"
            continue
        for label in _expand_products(piece):
            if op == "-":
                removed.append(label)
            elif not any(_same_term(label, known) for known in labels):
                labels.append(label)
    return [label for label in labels if not any(_same_term(label, r) for r in removed)], intercept


def _expand_products(piece):
    """Expand ``a*b`` to ``a, b, a:b`` and ``a/b`` to ``a, a:b``; ``a:b`` stays one term."""
    factors, operators = split_top(piece, "*/")
    terms = [label.split(":") for label in _expand_operand(factors[0])]
    for factor, op in zip(factors[1:], operators[1:]):
        right = [label.split(":") for label in _expand_operand(factor)]
        if op == "*":
            new = terms + right + [a + b for a in terms for b in right]
        else:  # a/b = a + a:b, with a all of the terms so far
            whole = list(dict.fromkeys(x for t in terms for x in t))
            new = terms + [whole + b for b in right]
        terms = []
        for t in new:
            t = list(dict.fromkeys(t))
            if not any(set(t) == set(known) for known in terms):
                terms.append(t)
    return [":".join(t) for t in terms]


def _expand_operand(factor):
    """One operand of ``*`` or ``/``: a term, a parenthesised sum, or a power ``(a + b + c)^k``."""
    base = split_top(factor, "^")[0]
    if len(base) == 2:
        return _expand_power(base[0], base[1], factor)
    if len(base) > 2:
        raise ValueError(f"cannot read the term {factor!r}: one '^' per term, as in (a + b + c)^2. {supported()}")
    if factor.startswith("(") and factor.endswith(")"):
        return _fixed_term_labels(factor[1:-1])[0]
    if _is_call(factor, "offset"):
        raise ValueError(f"{factor} must be a term of its own, added to the formula: y ~ x + {factor} + (1 | g)")
    return [factor]


def _expand_power(base, exponent, text):
    """R's crossing operator: ``(a + b + c)^2`` is every term and every interaction of two of them."""
    labels = _expand_operand(base)
    if not re.fullmatch(r"\d+", exponent):
        raise ValueError(f"the power in {text!r} must be a whole number, as in (a + b + c)^2. {supported()}")
    if len(labels) == 1:
        raise ValueError(f"in a formula '^' crosses terms, so {text!r} is the same as {labels[0]!r} (R's rule); "
                         f"write I({text}) for the power of a number, or (a + b + c)^2 for interactions")
    terms = []
    for order in range(1, int(exponent) + 1):
        for combination in itertools.combinations(labels, order):
            atoms = list(dict.fromkeys(a for label in combination for a in label.split(":")))
            if not any(set(atoms) == set(known) for known in terms):
                terms.append(atoms)
    return [":".join(t) for t in terms]


# ---------------------------------------------------------------- parsing


def parse_formula(text):
    """Parse ``response ~ rhs`` into a :class:`Formula` with random terms expanded.

    >>> str(parse_formula("y ~ x + (1 + x || g)"))
    'y ~ x + (1 | g) + (0 + x | g)'
    """
    if not isinstance(text, str) or text.count("~") != 1:
        raise ValueError(f"a formula needs one '~' between the response and the predictors, e.g. "
                         f"'Reaction ~ Days + (Days | Subject)'; got {text!r}")
    response, rhs = (s.strip() for s in text.split("~"))
    if not response:
        raise ValueError(f"the formula {text!r} has no response on the left of '~'")
    if _bar(f"({rhs})"):  # '|' binds loosest in R: 'y ~ 1 | g' and 'y ~ x + 1 | g' are one random term
        rhs = f"({rhs})"
    pieces, operators = split_top(rhs, "+-")
    fixed, random, offsets = [], [], []
    for piece, op in zip(pieces, operators):
        if piece.startswith("(") and piece.endswith(")") and _bar(piece):
            random.extend(_expand_random(piece))
        elif _is_call(piece, "offset"):
            if op == "-":
                raise ValueError(f"'- {piece}': an offset is added with coefficient 1; write "
                                 f"'+ offset(-({piece[7:-1]}))' to subtract it")
            offsets.append(piece[7:-1].strip())
        elif piece:
            fixed.append(("- " if op == "-" else "+ ") + piece)
    fixed_text = " ".join(fixed).removeprefix("+ ") or "1"
    _fixed_term_labels(fixed_text)  # expand now, so that a malformed term is reported here
    return Formula(response, fixed_text, tuple(random), tuple(offsets))


def _expand_random(piece):
    inner, bar = piece[1:-1], _bar(piece)
    lhs, group = (s.strip() for s in inner.split(bar, 1))
    if not group:
        raise ValueError(f"the random term {piece} has no grouping factor after '|'")
    groups = expand_group(group)
    if bar == "|":
        return [RandomTerm(lhs, g) for g in groups]
    labels, intercept = _fixed_term_labels(lhs)
    parts = (["1"] if intercept else []) + [f"0 + {label}" for label in labels]
    return [RandomTerm(p, g) for p in parts for g in groups]  # lme4: expandDoubleVerts, then expandSlash


def expand_formula(text):
    """Write a formula in its explicit form: nesting and ``||`` spelled out, in lme4's order.

    >>> expand_formula("score ~ x + (1 | site/subject)")
    'score ~ x + (1 | subject:site) + (1 | site)'
    """
    return str(parse_formula(text))


# ---------------------------------------------------------------- evaluation


FUNCTIONS = {
    "I": lambda x: x, "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
    "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs,
    "cbind": lambda *cols: np.column_stack(cols),
}
CONSTANTS = {"TRUE": True, "FALSE": False, "pi": np.pi}
_ALLOWED_NODES = (ast.Expression, ast.Call, ast.Name, ast.Load, ast.Constant, ast.keyword, ast.BinOp, ast.UnaryOp,
                  ast.Compare, ast.operator, ast.unaryop, ast.cmpop, ast.BoolOp, ast.boolop)

DOT = "__dot__"  # R names may contain dots (total.fruits); Python names may not


def _python_expression(expr):
    """R syntax to Python: ``^`` is ``**`` and dots inside names are kept as part of the name."""
    return re.sub(r"[A-Za-z_][A-Za-z0-9_.]*", lambda m: m.group(0).replace(".", DOT), expr.replace("^", "**"))


def _expression_tree(expr):
    """The Python syntax tree of one term, or a ValueError that names the term and what is supported."""
    try:
        tree = ast.parse(_python_expression(expr), mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot read the term {expr!r} of the formula. {supported()}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                               and (node.func.id in FUNCTIONS or node.func.id in STATEFUL)):
            name = ast.unparse(node.func).replace(DOT, ".")
            raise ValueError(f"unknown function {name}() in the term {expr!r}. {supported()}")
        if not isinstance(node, _ALLOWED_NODES):
            raise ValueError(f"cannot read the term {expr!r} of the formula. {supported()}")
    return tree


def variables_in(expr, columns=()):
    """Names of data columns that an expression such as ``log(x + 1)`` reads."""
    expr = expr.strip()
    if expr in columns:
        return [expr]
    if _is_call(expr, "C"):
        return variables_in(_coded_factor(expr)[0], columns)
    tree = _expression_tree(expr)
    functions = {n.func for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return list(dict.fromkeys(n.id.replace(DOT, ".") for n in ast.walk(tree) if isinstance(n, ast.Name)
                              and n not in functions and n.id not in CONSTANTS))


def _coded_factor(expr):
    """R's ``C(f, sum)``: the factor's expression and the contrast's name."""
    arguments = split_top(expr[2:-1], ",")[0]
    if len(arguments) != 2:
        raise ValueError(f"{expr}: write C(factor, contrast) with a contrast among treatment, sum, helmert, poly, SAS")
    return arguments[0], arguments[1].strip("'\"")


class _KeyStatefulCalls(ast.NodeTransformer):
    """Give each call of a stateful transform its own text as ``key=``: where its parameters are kept."""

    def visit_Call(self, node):
        key = ast.unparse(node).replace(DOT, ".")
        self.generic_visit(node)
        if node.func.id in STATEFUL:
            node.keywords.append(ast.keyword(arg="key", value=ast.Constant(key)))
        return node


def evaluate(expr, data, state=None):
    """Evaluate ``expr`` on the columns of ``data``: a column name or a transform of columns.

    ``state`` holds the parameters of stateful transforms (``scale``, ``poly``) learnt on the
    data a model was fitted to; pass the model's state to evaluate new data the same way.
    Without it, the transforms are fitted to ``data``.
    """
    expr = expr.strip()
    if expr in data.columns:
        return data[expr]
    if _is_call(expr, "C"):
        return as_factor(evaluate(_coded_factor(expr)[0], data, state))
    tree = _expression_tree(expr)
    names = variables_in(expr)
    for name in names:
        if name not in data.columns:
            raise KeyError(f"column {name!r} (in the term {expr!r}) is not in the data")
    namespace = {c.replace(".", DOT): data[c].to_numpy() for c in names}
    namespace.update(FUNCTIONS)
    namespace.update(CONSTANTS)
    state = {} if state is None else state
    namespace.update({name: functools.partial(transform, state=state) for name, transform in STATEFUL.items()})
    tree = ast.fix_missing_locations(_KeyStatefulCalls().visit(tree))
    try:
        with np.errstate(all="ignore"):
            value = eval(compile(tree, "<formula>", "eval"), {"__builtins__": {}}, namespace)
    except Exception as error:
        raise ValueError(f"cannot evaluate the term {expr!r}: {error}. {supported()}") from None
    value = np.asarray(value)
    _check_finite(expr, value, data[names])
    if value.dtype == bool and value.ndim == 1:  # a logical, such as I(x > 2): a factor, as in R
        return pd.Series(value, index=data.index)
    return value


def _check_finite(expr, value, inputs):
    """A transform that makes infinite or NaN values from complete inputs (``log(0)``) is an error, as in R."""
    if value.dtype.kind != "f":
        return
    bad = ~np.isfinite(value.reshape(len(value), -1)).all(axis=1) & inputs.notna().all(axis=1).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        example = ", ".join(f"{c} = {inputs[c].iloc[row]}" for c in inputs.columns)
        raise ValueError(f"the term {expr!r} is infinite or NaN in {int(bad.sum())} row(s), e.g. where {example} "
                         "(R: 'NA/NaN/Inf in x'). Change the transform (log(x + 1)?) or remove those rows")


def as_factor(values):
    """A pandas Categorical in R's level order: as given for categoricals, sorted otherwise.

    Numbers sort as numbers (R's ``factor(c(5, 10))`` has levels 5, 10, not "10", "5") and are
    labelled as R prints them (``1``, ``2.5``).
    """
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.as_unordered()
    values = pd.Series(values)
    if values.dtype == bool:
        return pd.Series(pd.Categorical(values.map({False: "FALSE", True: "TRUE"}),
                                        categories=["FALSE", "TRUE"]), index=values.index)
    if pd.api.types.is_numeric_dtype(values):
        levels, codes = np.unique(values.to_numpy(dtype=float), return_inverse=True)
        return pd.Series(pd.Categorical.from_codes(codes, [f"{level:.15g}" for level in levels]), index=values.index)
    return pd.Series(pd.Categorical(values.astype(str)), index=values.index)


def is_factor(values):
    if isinstance(values, pd.Series):
        return (isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == bool
                or pd.api.types.is_string_dtype(values) or values.dtype == object)
    return False


def grouping_factor(group, data):
    """The grouping factor of ``group`` (``g`` or an interaction ``a:b``, ``c:(b:a)``), as a Categorical.

    The levels of ``a:b`` are R's: ``a1:b1, a1:b2, ...`` (the first factor varies slowest),
    keeping only combinations that occur.
    """
    parts = [as_factor(evaluate(p, data)) for p in group_parts(group)]
    if len(parts) == 1:
        return parts[0].cat.remove_unused_categories()
    codes = np.zeros(len(data), dtype=np.int64)
    for part in parts:  # mixed-radix code: the first factor varies slowest
        codes = codes * len(part.cat.categories) + part.cat.codes.to_numpy()
    used, codes = np.unique(codes, return_inverse=True)
    digits, rest = [], used
    for part in reversed(parts):
        rest, digit = np.divmod(rest, len(part.cat.categories))
        digits.insert(0, np.asarray(part.cat.categories.astype(str))[digit])
    labels = [":".join(combination) for combination in zip(*digits)]
    return pd.Series(pd.Categorical.from_codes(codes, labels), index=data.index)


# ---------------------------------------------------------------- model matrices


def _order(label):
    return len(label.split(":"))


def _factor_codes(atom, values, state):
    """Codes, levels and orderedness of a factor; new data are coded with the levels of the fit."""
    key = ("levels", atom)
    if key not in state:
        factor = as_factor(values)
        state[key] = ([str(level) for level in factor.cat.categories],
                      bool(getattr(getattr(values, "dtype", None), "ordered", False)))
    levels, ordered = state[key]
    labels = as_factor(values).astype(str).to_numpy()
    codes = pd.Index(levels).get_indexer(labels)
    if (codes < 0).any():
        unseen = sorted(set(labels[codes < 0]))
        raise ValueError(f"the factor {atom!r} has levels not seen in the fit: {', '.join(unseen[:5])}; "
                         f"the model knows {', '.join(levels)}. Predictions need the levels of the fitted data")
    return codes, levels, ordered


def model_matrix(text, data, contrasts=None, state=None):
    """R's ``model.matrix`` for a fixed-effects expression.

    Terms are ordered by degree (main effects, then two-way interactions, ...).
    A factor in a term is coded by contrasts when the term without that factor is also in
    the model (the empty term always counts as present); otherwise it gets one indicator
    column per level, as R does.  Without an intercept, R codes the first factor of the first
    term that has one by indicators (``school * class - 1``: every school, class contrasts).
    Contrasts are treatment (polynomial for ordered factors) unless ``contrasts`` (a dict
    ``{"recipe": "sum"}``, lme4's ``contrasts=``) says otherwise.
    ``state`` (a dict) receives the factor levels and transform parameters learnt from
    ``data``, or, when given already filled, codes new data as the fitted data were.
    Returns a DataFrame with R-style column names.
    """
    labels, intercept = _fixed_term_labels(text)
    labels = sorted(labels, key=_order)
    kinds = {variable: contrast_kind(name, variable) for variable, name in (contrasts or {}).items()}
    coded = {atom: contrast_kind(_coded_factor(atom)[1], atom) for label in labels for atom in label.split(":")
             if _is_call(atom, "C")}
    state = {} if state is None else state
    present = {()} | {tuple(sorted(label.split(":"))) for label in labels}
    indicators_for_first_factor = not intercept  # R's model.c: TermCode, then the no-intercept adjustment
    columns = {"(Intercept)": np.ones(len(data))} if intercept else {}
    cache, factors = {}, set()
    for label in labels:
        atoms = label.split(":")
        blocks = []
        for atom in atoms:
            if atom not in cache:
                cache[atom] = evaluate(atom, data, state)
            values = cache[atom]
            if ("levels", atom) in state or is_factor(values):
                factors.add(atom)
                codes, levels, ordered = _factor_codes(atom, values, state)
                rest = tuple(sorted(a for a in atoms if a != atom))
                first_factor, indicators_for_first_factor = indicators_for_first_factor, False
                if first_factor or rest not in present:  # no contrasts: one indicator per level
                    blocks.append([(f"{_name(atom)}{lev}", (codes == i).astype(float)) for i, lev in enumerate(levels)])
                else:
                    kind = coded.get(atom) or kinds.get(atom, "poly" if ordered else "treatment")
                    coding, suffixes = contrast_matrix(kind, levels)
                    if atom in coded and kind in ("treatment", "SAS"):  # R's C() names levels by position
                        suffixes = [str(levels.index(s) + 1) for s in suffixes]
                    blocks.append([(f"{_name(atom)}{s}", coding[codes, j]) for j, s in enumerate(suffixes)])
            else:
                values = np.asarray(values, dtype=float)
                if values.ndim == 2:  # a matrix such as poly(x, 2): columns named 1, 2, ... as R
                    blocks.append([(f"{_name(atom)}{j + 1}", values[:, j]) for j in range(values.shape[1])])
                else:
                    blocks.append([(_name(atom), values)])
        # R varies the first factor fastest within an interaction
        for combo in itertools.product(*reversed(blocks)):
            combo = combo[::-1]
            name = ":".join(n for n, _ in combo)
            columns[name] = np.prod([v for _, v in combo], axis=0)
    for variable in kinds:
        if variable not in factors:
            what = "a numeric variable" if variable in cache else "not a variable of the fixed effects"
            raise ValueError(f"contrasts were given for {variable!r}, which is {what}: contrasts code the factors "
                             f"of the fixed effects ({', '.join(sorted(factors)) or 'none here'})")
    return pd.DataFrame(columns, index=data.index)


def _name(atom):
    """R's deparsed name of a term atom: single spaces, ``, `` between arguments, `` = `` for named ones."""
    text = re.sub(r"\s*,\s*", ", ", re.sub(r"\s+", " ", atom.strip()))
    return re.sub(r"\s*(?<![=!<>])=(?!=)\s*", " = ", text)


def used_variables(formula, extra=(), columns=()):
    """All data columns a parsed formula reads (response, fixed part, offsets, random terms, groups)."""
    names = list(variables_in(formula.response, columns))
    labels, _ = _fixed_term_labels(formula.fixed)
    for label in labels:
        for atom in label.split(":"):
            names += variables_in(atom, columns)
    for expr in formula.offsets:
        names += variables_in(expr, columns)
    for term in formula.random:
        for label in _fixed_term_labels(term.lhs)[0]:
            for atom in label.split(":"):
                names += variables_in(atom, columns)
        for part in group_parts(term.group):
            names += variables_in(part, columns)
    names += list(extra)
    return list(dict.fromkeys(names))
