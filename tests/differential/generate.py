"""Seeded generator of the randomized differential suite: datasets and the models fitted to them.

    python tests/differential/generate.py        # writes data/*.csv[.gz] and specs.json here

Every dataset is drawn from a known truth (``y = X beta + Z b + e`` for lmer, a GLMM for glmer)
by ``np.random.default_rng(SEED + index)``, so the suite is reproducible.  The designs cover what
students bring: random intercepts, correlated and uncorrelated slopes, several terms on one
factor, nesting (up to three levels), crossing, three grouping factors; unbalanced groups,
groups of one, 3-5 groups, 500+ groups; singular and near-singular truths; predictors in the
thousands, factor predictors and interactions, ``I(x^2)``, ``log(z)``, missing values, string
and integer grouping columns; binary, ``cbind`` binomial, proportion-with-weights binomial,
Poisson with an offset, and overdispersed counts (an observation-level random effect).

Each model is a spec (``specs.json``): ``formula`` is the lme4 call's formula (``fit_lme4.R``
fits it with default and with tight tolerances); ``ml_formula`` and ``ml_args`` are
mixedlite's call for the same model (an offset may be an argument there and ``offset()`` in
the lme4 formula); ``needs`` names a mixedlite feature the case relies on that may not exist
yet (the pytest module marks those cases xfail until it lands).
"""
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SEED = 20261129
GZIP_ABOVE = 8_000  # bytes of CSV text: larger datasets are stored gzipped

# ---------------------------------------------------------------- building blocks


def group_sizes(rng, k, layout):
    """Observations per group: balanced, unbalanced (Poisson sizes), or with many groups of one."""
    if layout == "balanced":
        return np.full(k, rng.integers(3, 10))
    if layout == "unbalanced":
        return 1 + rng.poisson(rng.uniform(2, 12), k)
    sizes = rng.integers(2, 9, k)  # "singletons": about 40% of the groups have one observation
    sizes[rng.random(k) < 0.4] = 1
    return sizes


def labels(rng, k, prefix, kind):
    """k group labels: zero-padded strings (same order in every locale) or scattered integers."""
    if kind == "int":
        return np.sort(rng.choice(np.arange(1, 10 * k + 10), k, replace=False))
    return np.array([f"{prefix}{i:04d}" for i in range(k)])


def sd_truth(rng, kind, scale=1.0):
    """A standard deviation for a random effect: regular, near zero, or zero (a singular truth)."""
    return {"regular": rng.uniform(0.4, 1.5), "near_singular": 0.02, "singular": 0.0}[kind] * scale


def correlated_effects(rng, k, sds, rho):
    """k draws of (b_0, b_1, ...) with standard deviations sds and one common correlation rho."""
    sds = np.asarray(sds, float)
    corr = np.full((len(sds), len(sds)), rho) + (1 - rho) * np.eye(len(sds))
    cov = np.outer(sds, sds) * corr
    w, v = np.linalg.eigh(cov)
    return rng.standard_normal((k, len(sds))) @ (v * np.sqrt(np.clip(w, 0, None))).T


def choose(rng, options):
    return options[rng.integers(len(options))]


def covariates(rng, n):
    """The fixed-effect predictors every dataset offers."""
    return pd.DataFrame({
        "x": rng.standard_normal(n),
        "z": rng.uniform(0.5, 4.0, n),                       # for log(z)
        "f": rng.choice(["hi", "lo", "mid"], n),              # a three-level factor predictor
        "dose": rng.integers(0, 5, n),                        # an integer-valued predictor
    })


def fixed_part(rng, d, style):
    """(formula text, linear predictor) for a style of fixed effects."""
    fx = pd.get_dummies(d["f"]).astype(float)
    if style == "simple":
        return "x", 0.5 * d["x"]
    if style == "factor":
        return "x + f", 0.5 * d["x"] + 0.8 * fx["lo"] - 0.4 * fx["mid"]
    if style == "interaction":
        return "x * f", 0.5 * d["x"] + 0.8 * fx["lo"] - 0.3 * d["x"] * fx["mid"]
    if style == "transforms":
        return "x + I(x^2) + log(z)", 0.5 * d["x"] - 0.2 * d["x"] ** 2 + 0.7 * np.log(d["z"])
    if style == "dose":
        return "dose + f", 0.3 * d["dose"] + 0.5 * fx["lo"]
    raise ValueError(style)


def add_missing(rng, d, columns, share=0.04):
    """Blank out a few values in the given columns (rows lme4's na.omit drops)."""
    for c in columns:
        hit = rng.random(len(d)) < share
        d[c] = d[c].astype(object).where(~hit, None) if d[c].dtype == object else d[c].where(~hit)
    return d


# ---------------------------------------------------------------- grouping structures


def one_factor(rng, k, layout, kind):
    sizes = group_sizes(rng, k, layout)
    g = np.repeat(np.arange(k), sizes)
    return {"g": labels(rng, k, "g", kind)[g]}, {"g": g}, len(g)


def nested(rng, levels, kind):
    """a / b (/ c): b within a, c within b; labels of b and c are reused across parents (as in R data)."""
    ka = rng.integers(4, 12)
    kb = rng.integers(2, 5)
    kc = rng.integers(2, 4) if levels == 3 else 1
    cells = [(i, j, m) for i in range(ka) for j in range(kb) for m in range(kc)]
    reps = 1 + rng.poisson(2.0, len(cells))
    rows = np.repeat(np.array(cells), reps, axis=0)
    cols = {"a": labels(rng, ka, "a", kind)[rows[:, 0]], "b": labels(rng, kb, "b", "str")[rows[:, 1]]}
    codes = {"a": rows[:, 0], "b": rows[:, 0] * kb + rows[:, 1]}
    if levels == 3:
        cols["c"] = labels(rng, kc, "c", "str")[rows[:, 2]]
        codes["c"] = codes["b"] * kc + rows[:, 2]
    return cols, codes, len(rows)


def crossed(rng, ka, kb, fill, kind):
    """Every (a, b) cell with probability fill, 1-3 observations each (partially crossed if fill < 1)."""
    cells = [(i, j) for i in range(ka) for j in range(kb) if rng.random() < fill]
    reps = rng.integers(1, 4, len(cells))
    rows = np.repeat(np.array(cells), reps, axis=0)
    cols = {"a": labels(rng, ka, "a", kind)[rows[:, 0]], "b": labels(rng, kb, "b", "str")[rows[:, 1]]}
    return cols, {"a": rows[:, 0], "b": rows[:, 1]}, len(rows)


def three_factors(rng, kind):
    ka, kb, kc = rng.integers(5, 15), rng.integers(4, 10), rng.integers(3, 6)
    n = int(rng.integers(150, 400))
    codes = {"a": rng.integers(0, ka, n), "b": rng.integers(0, kb, n), "c": rng.integers(0, kc, n)}
    cols = {"a": labels(rng, ka, "a", kind)[codes["a"]], "b": labels(rng, kb, "b", "str")[codes["b"]],
            "c": labels(rng, kc, "c", "int")[codes["c"]]}
    return cols, codes, n


# ---------------------------------------------------------------- datasets and models


class Suite:
    """Collects datasets and model specs while the scenarios run."""

    def __init__(self):
        self.datasets, self.specs = {}, []

    def add(self, name, data, models):
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(
            m["formula"] + " " + json.dumps(m.get("ml_args", {})) for m in models)))
        self.datasets[name] = data[[c for c in data.columns if c in words]]
        for i, m in enumerate(models):
            spec = {"id": f"{name}_{i}", "dataset": name, "kind": m.get("kind", "lmer"), "formula": m["formula"],
                    "ml_formula": m.get("ml_formula", m["formula"]), "ml_args": m.get("ml_args", {}),
                    "r_args": m.get("r_args", {}), "needs": m.get("needs", []), "tags": m.get("tags", [])}
            self.specs.append(spec)


def lmer_models(formula, tags, both=True):
    """REML (and ML) fits of one formula."""
    out = [{"formula": formula, "ml_args": {"REML": True}, "r_args": {"REML": True}, "tags": tags + ["REML"]}]
    if both:
        out.append({"formula": formula, "ml_args": {"REML": False}, "r_args": {"REML": False}, "tags": tags + ["ML"]})
    return out


def gaussian_frame(rng, cols, n, style):
    d = covariates(rng, n)
    for k, v in cols.items():
        d[k] = v
    text, eta = fixed_part(rng, d, style)
    return d, text, 1.0 + eta


def finish_gaussian(rng, d, mu, sigma=1.0, missing=False):
    d["y"] = mu + sigma * rng.standard_normal(len(d))
    if missing:
        groups = [c for c in ("g", "a") if c in d]
        add_missing(rng, d, [choose(rng, ["y", "x", "z"]), choose(rng, groups + ["x"])])
    return d


def scenario_intercept(suite, rng, idx):
    k = choose(rng, [3, 4, 5, 8, 12, 25, 60])
    layout = choose(rng, ["balanced", "unbalanced", "singletons"])
    truth = choose(rng, ["regular", "regular", "near_singular", "singular"])
    style = choose(rng, ["simple", "factor", "interaction", "transforms", "dose"])
    cols, codes, n = one_factor(rng, k, layout, choose(rng, ["str", "int"]))
    d, fixed, mu = gaussian_frame(rng, cols, n, style)
    mu = mu + rng.standard_normal(k)[codes["g"]] * sd_truth(rng, truth)
    d = finish_gaussian(rng, d, mu, missing=rng.random() < 0.3)
    tags = [f"k={k}", layout, truth, style]
    suite.add(f"intercept_{idx:03d}", d, lmer_models(f"y ~ {fixed} + (1 | g)", tags))


def scenario_slopes(suite, rng, idx):
    k = choose(rng, [4, 5, 8, 15, 30, 80])
    layout = choose(rng, ["balanced", "unbalanced", "singletons"])
    truth = choose(rng, ["regular", "regular", "near_singular", "singular", "perfect_correlation"])
    style = choose(rng, ["simple", "factor", "transforms"])
    cols, codes, n = one_factor(rng, k, layout, choose(rng, ["str", "int"]))
    d, fixed, mu = gaussian_frame(rng, cols, n, style)
    rho = {"perfect_correlation": 0.999}.get(truth, rng.uniform(-0.8, 0.8))
    sds = [sd_truth(rng, "regular"), sd_truth(rng, "regular" if truth == "perfect_correlation" else truth, 0.5)]
    b = correlated_effects(rng, k, sds, rho)
    mu = mu + b[codes["g"], 0] + b[codes["g"], 1] * d["x"]
    d = finish_gaussian(rng, d, mu, sigma=rng.uniform(0.3, 1.5), missing=rng.random() < 0.25)
    tags = [f"k={k}", layout, truth, style]
    models = lmer_models(f"y ~ {fixed} + (x | g)", tags + ["correlated"])
    models += lmer_models(f"y ~ {fixed} + (x || g)", tags + ["uncorrelated"], both=False)
    models += lmer_models(f"y ~ {fixed} + (1 | g) + (0 + x | g)", tags + ["two terms"], both=False)
    suite.add(f"slopes_{idx:03d}", d, models)


def scenario_several_terms(suite, rng, idx):
    """Three random effects on one factor: a 3x3 covariance, its diagonal, and mixed blocks."""
    k = choose(rng, [10, 20, 40])
    cols, codes, n = one_factor(rng, k, choose(rng, ["balanced", "unbalanced"]), choose(rng, ["str", "int"]))
    d = covariates(rng, n)
    for c, v in cols.items():
        d[c] = v
    d["w"] = rng.standard_normal(n)
    truth = choose(rng, ["regular", "near_singular", "singular"])
    b = correlated_effects(rng, k, [1.0, 0.6, sd_truth(rng, truth, 0.5)], rng.uniform(-0.5, 0.5))
    g = codes["g"]
    mu = 2.0 + 0.5 * d["x"] - 0.3 * d["w"] + b[g, 0] + b[g, 1] * d["x"] + b[g, 2] * d["w"]
    d = finish_gaussian(rng, d, mu)
    tags = [f"k={k}", truth]
    models = lmer_models("y ~ x + w + (x + w | g)", tags + ["3x3"], both=False)
    models += lmer_models("y ~ x + w + (1 | g) + (0 + x | g) + (0 + w | g)", tags + ["three terms"], both=False)
    models += lmer_models("y ~ x + w + (x | g) + (0 + w | g)", tags + ["2x2 + 1"], both=False)
    models += lmer_models("y ~ x + w + (x + w || g)", tags + ["||"], both=False)
    suite.add(f"several_{idx:03d}", d, models)


def scenario_nested(suite, rng, idx):
    levels = choose(rng, [2, 2, 3])
    cols, codes, n = nested(rng, levels, choose(rng, ["str", "int"]))
    style = choose(rng, ["simple", "factor", "transforms"])
    d, fixed, mu = gaussian_frame(rng, cols, n, style)
    truth = choose(rng, ["regular", "near_singular", "singular"])
    mu = mu + rng.standard_normal(codes["a"].max() + 1)[codes["a"]]
    mu = mu + sd_truth(rng, truth, 0.7) * rng.standard_normal(codes["b"].max() + 1)[codes["b"]]
    if levels == 3:
        mu = mu + 0.5 * rng.standard_normal(codes["c"].max() + 1)[codes["c"]]
    d = finish_gaussian(rng, d, mu, sigma=0.7, missing=rng.random() < 0.2)
    tags = [f"levels={levels}", truth, style]
    if levels == 2:
        models = lmer_models(f"y ~ {fixed} + (1 | a/b)", tags)
        models += lmer_models(f"y ~ {fixed} + (x | a) + (1 | a:b)", tags + ["slope"], both=False)
    else:
        models = lmer_models(f"y ~ {fixed} + (1 | a/b/c)", tags)
        models += lmer_models(f"y ~ {fixed} + (1 | a) + (1 | a:b)", tags + ["two of three"], both=False)
    suite.add(f"nested_{idx:03d}", d, models)


def scenario_crossed(suite, rng, idx):
    ka, kb = choose(rng, [6, 10, 20, 40]), choose(rng, [4, 5, 8, 15])
    fill = choose(rng, [1.0, 0.6, 0.3])
    cols, codes, n = crossed(rng, ka, kb, fill, choose(rng, ["str", "int"]))
    style = choose(rng, ["simple", "factor", "interaction"])
    d, fixed, mu = gaussian_frame(rng, cols, n, style)
    truth = choose(rng, ["regular", "near_singular", "singular"])
    ba = correlated_effects(rng, ka, [1.0, sd_truth(rng, truth, 0.5)], 0.3)
    mu = mu + ba[codes["a"], 0] + ba[codes["a"], 1] * d["x"] + 0.8 * rng.standard_normal(kb)[codes["b"]]
    d = finish_gaussian(rng, d, mu, missing=rng.random() < 0.2)
    tags = [f"{ka}x{kb}", f"fill={fill}", truth, style]
    models = lmer_models(f"y ~ {fixed} + (1 | a) + (1 | b)", tags)
    models += lmer_models(f"y ~ {fixed} + (x | a) + (1 | b)", tags + ["slope"], both=False)
    suite.add(f"crossed_{idx:03d}", d, models)


def scenario_three(suite, rng, idx):
    cols, codes, n = three_factors(rng, choose(rng, ["str", "int"]))
    d, fixed, mu = gaussian_frame(rng, cols, n, choose(rng, ["simple", "factor"]))
    truth = choose(rng, ["regular", "near_singular", "singular"])
    for c, s in (("a", 1.0), ("b", 0.7), ("c", sd_truth(rng, truth, 0.6))):
        mu = mu + s * rng.standard_normal(codes[c].max() + 1)[codes[c]]
    d = finish_gaussian(rng, d, mu)
    tags = [truth]
    models = lmer_models(f"y ~ {fixed} + (1 | a) + (1 | b) + (1 | c)", tags)
    models += lmer_models(f"y ~ {fixed} + (1 | a) + (1 | b:c)", tags + ["interaction group"], both=False)
    suite.add(f"three_{idx:03d}", d, models)


def scenario_big_scale(suite, rng, idx):
    """Predictors in the thousands: a badly scaled slope (lme4 warns and still returns its best point)."""
    k = choose(rng, [10, 20, 40])
    cols, codes, n = one_factor(rng, k, "unbalanced", choose(rng, ["str", "int"]))
    d = covariates(rng, n)
    for c, v in cols.items():
        d[c] = v
    d["xk"] = rng.uniform(1000, 5000, n).round(1)
    b = correlated_effects(rng, k, [2.0, 0.0005], rng.uniform(-0.5, 0.5))
    mu = 10 + 0.002 * d["xk"] + b[codes["g"], 0] + b[codes["g"], 1] * d["xk"]
    d = finish_gaussian(rng, d, mu)
    models = lmer_models("y ~ xk + (1 | g)", ["thousands"], both=False)
    models += lmer_models("y ~ xk + (xk | g)", ["thousands", "slope"])
    suite.add(f"thousands_{idx:03d}", d, models)


def scenario_many_groups(suite, rng, idx):
    k = choose(rng, [500, 600, 800])
    cols, codes, n = one_factor(rng, k, choose(rng, ["unbalanced", "singletons"]), choose(rng, ["str", "int"]))
    d, fixed, mu = gaussian_frame(rng, cols, n, "simple")
    b = correlated_effects(rng, k, [0.8, 0.3], 0.4)
    mu = mu + b[codes["g"], 0] + b[codes["g"], 1] * d["x"]
    d = finish_gaussian(rng, d, mu)
    models = lmer_models(f"y ~ {fixed} + (1 | g)", [f"k={k}"])
    models += lmer_models(f"y ~ {fixed} + (x | g)", [f"k={k}", "slope"], both=False)
    suite.add(f"many_{idx:03d}", d, models)


def scenario_lmer_weights_offset(suite, rng, idx):
    """lmer with prior weights and with offset() in the formula."""
    k = choose(rng, [8, 15, 30])
    cols, codes, n = one_factor(rng, k, "unbalanced", "str")
    d = covariates(rng, n)
    for c, v in cols.items():
        d[c] = v
    d["wt"] = rng.integers(1, 6, n)
    d["base"] = rng.normal(5, 1, n).round(3)
    mu = 1 + d["base"] + 0.5 * d["x"] + rng.standard_normal(k)[codes["g"]]
    d["y"] = mu + rng.standard_normal(n) / np.sqrt(d["wt"])
    models = [{"formula": "y ~ x + (1 | g)", "ml_args": {"REML": True, "weights": "wt"},
               "r_args": {"REML": True, "weights": "wt"}, "needs": ["lmer weights"], "tags": ["weights"]},
              {"formula": "y ~ x + offset(base) + (1 | g)", "ml_args": {"REML": True}, "r_args": {"REML": True},
               "needs": ["offset in formula"], "tags": ["offset"]},
              {"formula": "y ~ x + offset(base) + offset(log(z)) + (1 | g)", "ml_args": {"REML": False},
               "r_args": {"REML": False}, "needs": ["offset in formula"], "tags": ["two offsets"]}]
    suite.add(f"lmerwo_{idx:03d}", d, models)


# ---------------------------------------------------------------- GLMMs


def inv_logit(eta):
    return 1 / (1 + np.exp(-eta))


def glmm_frame(rng, structure, truth):
    """Grouping columns, covariates and a linear predictor with random effects for a GLMM."""
    kind = choose(rng, ["str", "int"])
    if structure == "crossed":
        cols, codes, n = crossed(rng, choose(rng, [8, 15, 25]), choose(rng, [5, 8, 12]), choose(rng, [1.0, 0.5]), kind)
    elif structure == "nested":
        cols, codes, n = nested(rng, 2, kind)
    elif structure == "many":
        cols, codes, n = one_factor(rng, choose(rng, [500, 600]), "unbalanced", kind)
    else:
        k = choose(rng, [4, 5, 8, 15, 30, 60])
        cols, codes, n = one_factor(rng, k, choose(rng, ["balanced", "unbalanced", "singletons"]), kind)
    d = covariates(rng, n)
    for c, v in cols.items():
        d[c] = v
    first = "g" if "g" in codes else "a"
    kf = codes[first].max() + 1
    b = correlated_effects(rng, kf, [sd_truth(rng, truth, 0.8), sd_truth(rng, "regular", 0.4)], rng.uniform(-0.6, 0.6))
    eta = -0.3 + 0.6 * d["x"] + b[codes[first], 0] + b[codes[first], 1] * d["x"]
    if structure in ("crossed", "nested"):
        other = "b"
        eta = eta + 0.5 * rng.standard_normal(codes[other].max() + 1)[codes[other]]
    return d, eta, first


def random_part(structure, first, slope):
    if structure == "crossed":
        return f"({'x' if slope else '1'} | a) + (1 | b)"
    if structure == "nested":
        return "(1 | a/b)" if not slope else "(x | a) + (1 | a:b)"
    return f"({'x' if slope else '1'} | {first})"


def scenario_binary(suite, rng, idx):
    structure = choose(rng, ["one", "one", "one", "crossed", "nested", "many"])
    truth = choose(rng, ["regular", "regular", "near_singular", "singular"])
    d, eta, first = glmm_frame(rng, structure, truth)
    d["yb"] = rng.binomial(1, inv_logit(eta))
    style = choose(rng, ["simple", "factor", "transforms"])
    fixed = fixed_part(rng, d, style)[0]
    if rng.random() < 0.2:
        add_missing(rng, d, ["x"])
    tags = [structure, truth, style]
    models = [{"kind": "glmer", "formula": f"yb ~ {fixed} + {random_part(structure, first, False)}",
               "ml_args": {"family": "binomial"}, "r_args": {"family": "binomial"}, "tags": tags + ["binary"]}]
    if structure != "many":
        models.append({"kind": "glmer", "formula": f"yb ~ {fixed} + {random_part(structure, first, True)}",
                       "ml_args": {"family": "binomial"}, "r_args": {"family": "binomial"},
                       "tags": tags + ["binary", "slope"]})
    if structure == "one":
        models.append({"kind": "glmer", "formula": f"yb ~ {fixed} + (1 | {first})",
                       "ml_args": {"family": "binomial", "nAGQ": 7}, "r_args": {"family": "binomial", "nAGQ": 7},
                       "tags": tags + ["binary", "nAGQ=7"]})
    if idx % 5 == 0:
        link = "probit" if idx % 10 == 0 else "cloglog"
        models.append({"kind": "glmer", "formula": f"yb ~ {fixed} + {random_part(structure, first, False)}",
                       "ml_args": {"family": "binomial", "link": link}, "r_args": {"family": "binomial", "link": link},
                       "needs": ["binomial links"], "tags": tags + ["binary", link]})
    suite.add(f"binary_{idx:03d}", d, models)


def scenario_binomial_counts(suite, rng, idx):
    structure = choose(rng, ["one", "one", "crossed", "nested"])
    truth = choose(rng, ["regular", "regular", "near_singular", "singular"])
    d, eta, first = glmm_frame(rng, structure, truth)
    d["trials"] = rng.integers(1, 15, len(d))
    d["succ"] = rng.binomial(d["trials"], inv_logit(eta))
    d["prop"] = (d["succ"] / d["trials"]).round(10)
    style = choose(rng, ["simple", "factor", "interaction"])
    fixed = fixed_part(rng, d, style)[0]
    if rng.random() < 0.2:
        add_missing(rng, d, ["succ"])
    tags = [structure, truth, style]
    rand = random_part(structure, first, rng.random() < 0.4)
    models = [{"kind": "glmer", "formula": f"cbind(succ, trials - succ) ~ {fixed} + {rand}",
               "ml_args": {"family": "binomial"}, "r_args": {"family": "binomial"}, "tags": tags + ["cbind"]},
              {"kind": "glmer", "formula": f"prop ~ {fixed} + {rand}",
               "ml_args": {"family": "binomial", "weights": "trials"},
               "r_args": {"family": "binomial", "weights": "trials"}, "tags": tags + ["proportion", "weights"]}]
    suite.add(f"binomial_{idx:03d}", d, models)


def scenario_poisson(suite, rng, idx):
    structure = choose(rng, ["one", "one", "crossed", "nested", "many"])
    truth = choose(rng, ["regular", "regular", "near_singular", "singular"])
    d, eta, first = glmm_frame(rng, structure, truth)
    d["expo"] = rng.uniform(0.5, 20, len(d)).round(2)
    d["lexpo"] = np.log(d["expo"])
    overdispersed = rng.random() < 0.5
    extra = rng.standard_normal(len(d)) * 0.6 if overdispersed else 0.0
    d["cnt"] = rng.poisson(np.exp(eta + d["lexpo"] + extra))
    d["obs"] = np.arange(1, len(d) + 1)
    style = choose(rng, ["simple", "factor", "transforms"])
    fixed = fixed_part(rng, d, style)[0]
    rand = random_part(structure, first, structure == "one" and rng.random() < 0.4)
    tags = [structure, truth, style, "overdispersed" if overdispersed else "poisson"]
    models = [{"kind": "glmer", "formula": f"cnt ~ {fixed} + offset(lexpo) + {rand}", "ml_formula": f"cnt ~ {fixed} + {rand}",
               "ml_args": {"family": "poisson", "offset": "lexpo"}, "r_args": {"family": "poisson"},
               "tags": tags + ["offset argument"]}]
    if structure != "many":
        models.append({"kind": "glmer", "formula": f"cnt ~ {fixed} + offset(lexpo) + {rand} + (1 | obs)",
                       "ml_formula": f"cnt ~ {fixed} + {rand} + (1 | obs)",
                       "ml_args": {"family": "poisson", "offset": "lexpo"}, "r_args": {"family": "poisson"},
                       "tags": tags + ["offset argument", "observation-level"]})
    if idx % 4 == 0:
        models.append({"kind": "glmer", "formula": f"cnt ~ {fixed} + offset(log(expo)) + {rand}",
                       "ml_args": {"family": "poisson"}, "r_args": {"family": "poisson"},
                       "needs": ["offset in formula"], "tags": tags + ["offset in formula"]})
    if idx % 4 == 2:
        models.append({"kind": "glmer", "formula": f"cnt ~ {fixed} + offset(log(expo)) + offset(-0.1 * x) + {rand}",
                       "ml_args": {"family": "poisson"}, "r_args": {"family": "poisson"},
                       "needs": ["offset in formula"], "tags": tags + ["two offsets in formula"]})
    suite.add(f"poisson_{idx:03d}", d, models)


def scenario_negative_binomial(suite, rng, idx):
    """Overdispersed counts modelled by lme4's glmer.nb (negative binomial, log link)."""
    structure = choose(rng, ["one", "one", "crossed"])
    d, eta, first = glmm_frame(rng, structure, choose(rng, ["regular", "near_singular"]))
    size = rng.uniform(0.8, 5.0)
    d["cnt"] = rng.negative_binomial(size, size / (size + np.exp(eta + 1.0)))
    fixed = fixed_part(rng, d, choose(rng, ["simple", "factor"]))[0]
    models = [{"kind": "glmer_nb", "formula": f"cnt ~ {fixed} + {random_part(structure, first, False)}",
               "needs": ["glmer_nb"], "tags": [structure, f"size={size:.2f}"]}]
    suite.add(f"negbin_{idx:03d}", d, models)


# ---------------------------------------------------------------- writing


SCENARIOS = [  # (scenario, number of datasets)
    (scenario_intercept, 40), (scenario_slopes, 36), (scenario_several_terms, 10), (scenario_nested, 24),
    (scenario_crossed, 20), (scenario_three, 12), (scenario_big_scale, 8), (scenario_many_groups, 5),
    (scenario_lmer_weights_offset, 5), (scenario_binary, 30), (scenario_binomial_counts, 24),
    (scenario_poisson, 28), (scenario_negative_binomial, 6),
]


def build():
    suite = Suite()
    index = 0
    for scenario, count in SCENARIOS:
        for i in range(count):
            scenario(suite, np.random.default_rng(SEED + index), i)
            index += 1
    return suite


def write(suite):
    DATA.mkdir(exist_ok=True)
    for old in DATA.glob("*.csv*"):
        old.unlink()
    files = {}
    for name, d in suite.datasets.items():
        text = d.to_csv(index=False, float_format="%.7g", na_rep="")
        path = DATA / (f"{name}.csv.gz" if len(text) > GZIP_ABOVE else f"{name}.csv")
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(text.encode(), mtime=0))
        else:
            path.write_text(text)
        files[name] = path.name
    for spec in suite.specs:
        spec["file"] = files[spec["dataset"]]
    (HERE / "specs.json").write_text(json.dumps(suite.specs, indent=1) + "\n")
    return len(suite.datasets), len(suite.specs)


if __name__ == "__main__":
    n_data, n_fits = write(build())
    print(f"wrote {n_data} datasets and {n_fits} model specs to {HERE}")
