"""The formula language: ``y ~ fixed + (expr | group)``, as lme4 reads it.

A formula has a response, fixed-effects terms and random-effects terms.

* Fixed part: ``a + b``, interactions ``a:b``, crossing ``a*b = a + b + a:b``,
  nesting ``a/b = a + a:b``, ``-1`` or ``0 +`` to drop the intercept, and simple
  transforms evaluated on the data (``I(x^2)``, ``log(x)``, ``scale(x)``).
* Random part: ``(expr | g)`` is one term with correlated effects;
  ``(1 + x || g)`` becomes uncorrelated terms ``(1 | g) + (0 + x | g)``;
  ``(1 | a/b)`` becomes ``(1 | a) + (1 | b:a)`` (lme4 names the nested factor
  ``b:a``), and ``a:b`` groups by the combinations of ``a`` and ``b``.

The model matrix follows R's ``model.matrix`` with treatment contrasts:
column names such as ``(Intercept)``, ``period2`` and ``recipeB:temp``.
"""
import ast
import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after expansion."""

    lhs: str
    group: str

    def __str__(self):
        return f"({self.lhs} | {self.group})"


@dataclass(frozen=True)
class Formula:
    """A parsed formula: response text, fixed-part text and expanded random terms."""

    response: str
    fixed: str
    random: tuple

    def __str__(self):
        return f"{self.response} ~ " + " + ".join([self.fixed] + [str(t) for t in self.random])


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


def expand_group(group):
    """``a/b/c`` -> ``['a', 'b:a', 'c:b:a']``; ``a:b`` and ``a`` unchanged."""
    parts = [p.strip() for p in group.split("/")]
    return [":".join(reversed(parts[: k + 1])) for k in range(len(parts))]


def _fixed_term_labels(text):
    """The term labels of a fixed-effects expression, and whether it keeps an intercept."""
    intercept, labels = True, []
    pieces, operators = split_top(text, "+-")
    for piece, op in zip(pieces, operators):
        if piece == "":
            continue
        if piece in ("0", "1"):
            intercept = piece == "1" and op != "-"
            continue
        if op == "-":
            raise ValueError(f"cannot remove the term {piece!r}: only '- 1' (drop the intercept) is supported")
        labels.extend(label for label in _expand_products(piece) if label not in labels)
    return labels, intercept


def _expand_products(piece):
    """Expand ``a*b`` to ``a, b, a:b`` and ``a/b`` to ``a, a:b``; ``a:b`` stays one term."""
    factors, operators = split_top(piece, "*/")
    if len(factors) == 1:
        if factors[0].startswith("(") and factors[0].endswith(")"):
            return _fixed_term_labels(factors[0][1:-1])[0]
        return [piece]
    terms = [[f] for f in _expand_products(factors[0])]
    for factor, op in zip(factors[1:], operators[1:]):
        right = [[f] for f in _expand_products(factor)]
        if op == "*":
            new = terms + right + [a + b for a in terms for b in right]
        else:  # a/b = a + a:b, with a all of the terms so far
            whole = sorted({x for t in terms for x in t}, key=[x for t in terms for x in t].index)
            new = terms + [whole + b for b in right]
        terms = []
        for t in new:
            t = list(dict.fromkeys(sum((s.split(":") for s in t), [])))
            if t not in terms:
                terms.append(t)
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
    pieces, operators = split_top(rhs, "+-")
    fixed, random = [], []
    for piece, op in zip(pieces, operators):
        if piece.startswith("(") and piece.endswith(")") and _bar(piece):
            random.extend(_expand_random(piece))
        elif piece:
            fixed.append(("- " if op == "-" else "+ ") + piece)
    fixed_text = " ".join(fixed).removeprefix("+ ") or "1"
    return Formula(response, fixed_text, tuple(random))


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
    return [RandomTerm(p, g) for g in groups for p in parts]


def expand_formula(text):
    """Write a formula in its explicit form: nesting and ``||`` spelled out.

    >>> expand_formula("score ~ x + (1 | site/subject)")
    'score ~ x + (1 | site) + (1 | subject:site)'
    """
    return str(parse_formula(text))


# ---------------------------------------------------------------- evaluation


def _scale(x):
    """R's ``scale()``: centre, and divide by the sample standard deviation."""
    x = np.asarray(x, dtype=float)
    return (x - x.mean()) / x.std(ddof=1)


FUNCTIONS = {
    "I": lambda x: x, "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
    "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "scale": _scale,
    "cbind": lambda *cols: np.column_stack(cols),
}


DOT = "__dot__"  # R names may contain dots (total.fruits); Python names may not


def _python_expression(expr):
    """R syntax to Python: ``^`` is ``**`` and dots inside names are kept as part of the name."""
    return re.sub(r"[A-Za-z_][A-Za-z0-9_.]*", lambda m: m.group(0).replace(".", DOT), expr.replace("^", "**"))


def variables_in(expr):
    """Names of data columns that an expression such as ``log(x + 1)`` reads."""
    expr = expr.strip()
    try:
        tree = ast.parse(_python_expression(expr), mode="eval")
    except SyntaxError:
        return [expr]
    return [n.id.replace(DOT, ".") for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in FUNCTIONS]


def evaluate(expr, data):
    """Evaluate ``expr`` on the columns of ``data``: a column name or a transform of columns."""
    expr = expr.strip()
    if expr in data.columns:
        return data[expr]
    for name in variables_in(expr):
        if name not in data.columns:
            raise KeyError(name)
    namespace = {c.replace(".", DOT): data[c].to_numpy() for c in variables_in(expr)}
    namespace.update(FUNCTIONS)
    return eval(compile(_python_expression(expr), "<formula>", "eval"), {"__builtins__": {}}, namespace)


def as_factor(values):
    """A pandas Categorical in R's level order: as given for categoricals, sorted otherwise."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.as_unordered()
    values = pd.Series(values)
    if values.dtype == bool:
        return pd.Series(pd.Categorical(values.map({False: "FALSE", True: "TRUE"}),
                                        categories=["FALSE", "TRUE"]), index=values.index)
    return pd.Series(pd.Categorical(values.astype(str)), index=values.index)


def is_factor(values):
    if isinstance(values, pd.Series):
        return (isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == bool
                or pd.api.types.is_string_dtype(values) or values.dtype == object)
    return False


def grouping_factor(group, data):
    """The grouping factor of ``group`` (``g`` or an interaction ``a:b``), as a Categorical.

    The levels of ``a:b`` are R's: ``a1:b1, a1:b2, ...`` (the first factor varies slowest),
    keeping only combinations that occur.
    """
    parts = [as_factor(evaluate(p, data)) for p in group.split(":")]
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


def model_matrix(text, data):
    """R's ``model.matrix`` for a fixed-effects expression with treatment contrasts.

    Terms are ordered by degree (main effects, then two-way interactions, ...).
    A factor in a term is coded by contrasts (dropping its first level) when the term
    without that factor is also in the model (the intercept counts as the empty term);
    otherwise it gets one indicator column per level, as R does.
    Returns a DataFrame with R-style column names.
    """
    labels, intercept = _fixed_term_labels(text)
    labels = sorted(labels, key=_order)
    present = {()} if intercept else set()
    present |= {tuple(sorted(label.split(":"))) for label in labels}
    columns = {"(Intercept)": np.ones(len(data))} if intercept else {}
    cache = {}
    for label in labels:
        atoms = label.split(":")
        blocks = []
        for atom in atoms:
            if atom not in cache:
                cache[atom] = evaluate(atom, data)
            values = cache[atom]
            if is_factor(values):
                factor = as_factor(values)
                codes = factor.cat.codes.to_numpy()
                levels = list(factor.cat.categories)
                rest = tuple(sorted(a for a in atoms if a != atom))
                if rest not in present:  # no contrasts: one indicator per level
                    blocks.append([(f"{_name(atom)}{lev}", (codes == i).astype(float)) for i, lev in enumerate(levels)])
                elif getattr(values.dtype, "ordered", False):  # R's contr.poly for ordered factors
                    poly = polynomial_contrasts(len(levels))
                    blocks.append([(f"{_name(atom)}{_poly_name(j)}", poly[codes, j]) for j in range(poly.shape[1])])
                else:  # treatment contrasts: the first level is the reference
                    blocks.append([(f"{_name(atom)}{lev}", (codes == i).astype(float))
                                   for i, lev in enumerate(levels) if i > 0])
            else:
                blocks.append([(_name(atom), np.asarray(values, dtype=float))])
        # R varies the first factor fastest within an interaction
        for combo in itertools.product(*reversed(blocks)):
            combo = combo[::-1]
            name = ":".join(n for n, _ in combo)
            columns[name] = np.prod([v for _, v in combo], axis=0)
    return pd.DataFrame(columns, index=data.index)


def polynomial_contrasts(k):
    """R's ``contr.poly(k)``: orthonormal polynomial contrasts for an ordered factor (k x (k-1))."""
    scores = np.arange(k) - (k - 1) / 2
    Q, R = np.linalg.qr(np.vander(scores, k, increasing=True))
    return (Q * np.sign(np.diag(R)))[:, 1:]


def _poly_name(j):
    return [".L", ".Q", ".C"][j] if j < 3 else f"^{j + 1}"


def _name(atom):
    """R's deparsed name of a term atom: spaces around binary operators, none around ``^``."""
    return re.sub(r"\s+", " ", atom.strip())


def used_variables(formula, extra=()):
    """All data columns a parsed formula reads (response, fixed part, random terms, groups)."""
    names = list(variables_in(formula.response))
    labels, _ = _fixed_term_labels(formula.fixed)
    for label in labels:
        for atom in label.split(":"):
            names += variables_in(atom)
    for term in formula.random:
        for label in _fixed_term_labels(term.lhs)[0]:
            for atom in label.split(":"):
                names += variables_in(atom)
        for part in term.group.split(":"):
            names += variables_in(part)
    names += list(extra)
    return list(dict.fromkeys(names))
