"""The randomized differential suite: its cases, mixedlite's fit of each, and the comparison rule.

A case is a spec of ``specs.json`` (written by ``generate.py``) joined with lme4's fits of it
(``fixtures/<dataset>.json``, written by ``fit_lme4.R``): ``default`` (lme4's default
controls) and ``tight`` (tolerances 1e-12 .. 1e-14).  The comparison rule:

* objective: mixedlite's <= lme4's best (the lowest of default, tight and, where there is one, the
  minqa fit: ``Case.best``) + 1e-5 relative;
* where mixedlite is not lower than that optimum by more than ``LOWER_ATOL``, its estimates
  are within 1e-4 relative of lme4's best fit: beta (within 1e-4 of |beta| + SE: a
  coefficient near zero is compared on the scale of its uncertainty), SEs, sigma, and theta
  and the variance components relative to the largest of their group (flat and singular
  optima, as tests/test_lmm_reference.py compares them);
* where mixedlite is lower, the fit is listed (a better optimum than lme4's is correct).
"""
import csv
import json
import re
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OBJECTIVE_RTOL = 1e-5
ESTIMATE_RTOL = 1e-4
THETA_FLOOR = 0.01  # the scale of theta (and of SDs) below which a fully singular fit's components count as zero
SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance: theta components below it are zero for both libraries
# mixedlite below lme4's best objective by more than this: a better optimum, listed.  For glmer the
# bound is wider: lme4's PIRLS stops at tolPwrss = 1e-7, and verify_lower.R found lme4's deviance
# function at mixedlite's GLMM optimum equal to lme4's own optimum where mixedlite's evaluation was
# 1.6e-7 lower (at lmer optima lme4's function gives mixedlite's value to 1e-8).
LOWER_ATOL = {"lmer": 1e-7, "glmer": 1e-6, "glmer_nb": 1e-6}

RESULTS = {}  # case id -> objectives and timing, filled by the tests, written by write_summary at the end of the run


def as_list(x):
    """R writes a length-one vector as a scalar in JSON; make it a list again."""
    return x if isinstance(x, list) else [x]


@dataclass
class Case:
    spec: dict
    lme4: dict  # {"default": fit, "tight": fit} or {"error": message}

    @property
    def id(self):
        return self.spec["id"]

    @property
    def best(self):
        """lme4's lowest-objective fit among default, tight (normally this one) and, for the few glmer cases
        of ``minqa_fits.json``, lme4's BOBYQA at rhoend = 1e-12 (``fit_lme4_minqa.R``)."""
        fits = [self.lme4["tight"], self.lme4["default"]] + ([self.lme4["minqa"]] if "minqa" in self.lme4 else [])
        return min(fits, key=lambda f: f["objective"])


@lru_cache(maxsize=None)
def load_cases():
    specs = json.loads((HERE / "specs.json").read_text())
    fits = {}
    for path in sorted((HERE / "fixtures").glob("*.json")):
        for fit in json.loads(path.read_text())["fits"]:
            fits[fit["id"]] = fit
    for case_id, fit in json.loads((HERE / "minqa_fits.json").read_text())["fits"].items():
        fits[case_id]["minqa"] = fit
    return [Case(s, fits[s["id"]]) for s in specs if s["id"] in fits]


@lru_cache(maxsize=8)
def load_data(file):
    return pd.read_csv(HERE / "data" / file)


@dataclass
class MixedliteFit:
    model: object = None
    error: str | None = None
    warnings: list = field(default_factory=list)
    seconds: float = 0.0


def fit_mixedlite(spec):
    """mixedlite's fit of a spec (the exception's text instead, if it raised)."""
    import mixedlite as ml
    data = load_data(spec["file"])
    out = MixedliteFit()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitter = getattr(ml, spec["kind"])  # lmer, glmer, glmer_nb
            out.model = fitter(spec["ml_formula"], data, **spec["ml_args"])
            out.model.vcov()  # glmer's Hessian-based vcov is computed on first use: its warnings are the fit's
        except Exception as exc:  # recorded: the test reports it as a failure
            out.error = f"{type(exc).__name__}: {exc}"
    out.seconds = time.perf_counter() - start
    out.warnings = [str(w.message) for w in caught]
    return out


def objective_gap(case, model):
    """mixedlite's objective minus lme4's best: negative where mixedlite found a lower optimum."""
    return model.objective - case.best["objective"]


def is_lower(case, model):
    """mixedlite's optimum is below lme4's best by more than the criteria's agreement (LOWER_ATOL)."""
    return objective_gap(case, model) < -LOWER_ATOL[case.spec["kind"]]


def objective_problems(case, model):
    best = case.best["objective"]
    allowed = best + OBJECTIVE_RTOL * abs(best)
    if model.objective > allowed:
        return [f"objective {model.objective:.10g} is above lme4's best {best:.10g} by "
                f"{model.objective - best:.3g} (tolerance {OBJECTIVE_RTOL:g} relative)"]
    return []


def number(value):
    """A JSON number; R writes NA in a column it blanked as "" (then the column's numbers as text)."""
    return np.nan if value in ("", None) else float(value)


def _relative_problems(label, actual, expected, atol, rtol=ESTIMATE_RTOL):
    actual, expected, atol = (np.asarray(v, dtype=float) for v in (actual, expected, atol))
    if actual.shape != expected.shape:
        return [f"{label}: {actual.size} values, lme4 has {expected.size}"]
    both_nan = np.isnan(actual) & np.isnan(expected)
    excess = np.where(both_nan, 0.0, np.abs(actual - expected) - (rtol * np.abs(expected) + atol))
    excess = np.where(np.isnan(excess), np.inf, excess)
    if np.any(excess > 0):
        j = int(np.argmax(excess))
        return [f"{label}[{j}] = {actual.flat[j]:.8g}, lme4 {expected.flat[j]:.8g} "
                f"(difference {abs(actual.flat[j] - expected.flat[j]):.3g})"]
    return []


def _scaled(label, actual, expected, floor):
    """Relative to the largest component (at least ``floor``): for theta and variance components at
    flat or singular optima.  The floor only matters where every component is near zero (a fully
    singular fit): theta below 1e-6 (1e-4 of 0.01) is then zero for both libraries."""
    expected = np.asarray(expected, dtype=float)
    scale = max(np.nanmax(np.abs(expected), initial=0.0), floor)
    return _relative_problems(label, actual, expected, ESTIMATE_RTOL * scale, rtol=0.0)


def varcorr_key(grp, var1, var2):
    """A row of VarCorr: lme4 writes nested groups c:(b:a); compare them without the parentheses."""
    blank = lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    return grp.replace("(", "").replace(")", ""), blank(var1), blank(var2)


def theta_key(name):
    """A theta name without the parentheses of a nested group: c:(b:a).(Intercept) -> c:b:a.(Intercept)."""
    while re.search(r":\([^()]*\)", name):
        name = re.sub(r":\(([^()]*)\)", r":\1", name)
    return name


def _aligned_theta(model, ref):
    """mixedlite's theta in lme4's order (matched by name; by position if the names differ)."""
    mine = dict(zip(map(theta_key, model.theta.index), model.theta.to_numpy()))
    keys = [theta_key(n) for n in as_list(ref["theta_names"])]
    if sorted(mine) == sorted(keys):
        return np.array([mine[k] for k in keys])
    return model.theta.to_numpy()


def _undefined_correlations(*tables):
    """Correlation rows whose SDs are below SINGULAR_TOL of the group's largest SD (at least THETA_FLOOR,
    as in ``_scaled``) in either fit: a correlation with an effect of (almost) zero variance is not
    identified (lme4 prints NaN or any value; binary_000_1 has every SD below 1e-7 and correlations of
    -0.95 and -0.30 at the same deviance)."""
    undefined = set()
    for rows in tables:
        sd = {(k[0], k[1]): v[1] for k, v in rows.items() if k[2] == ""}
        top = max(np.nanmax(list(sd.values()), initial=0.0), THETA_FLOOR)
        undefined |= {k for k in rows if k[2] != "" and
                      not min(sd.get((k[0], k[1]), 0.0), sd.get((k[0], k[2]), 0.0)) >= SINGULAR_TOL * top}
    return undefined


def estimate_problems(case, model):
    ref = case.best
    problems = []
    se = np.sqrt(np.diag(model.vcov().to_numpy()))
    ref_se = np.asarray(as_list(ref["se"]), dtype=float)
    problems += _relative_problems("beta", model.fixef().to_numpy(), as_list(ref["beta"]),
                                   ESTIMATE_RTOL * ref_se if len(ref_se) == len(se) else 0.0)
    problems += _relative_problems("se", se, ref_se, 0.0)
    theta, ref_theta = _aligned_theta(model, ref), np.asarray(as_list(ref["theta"]), dtype=float)
    zero = (np.abs(theta) < SINGULAR_TOL) & (np.abs(ref_theta) < SINGULAR_TOL)
    problems += _scaled("theta", np.where(zero, 0.0, theta), np.where(zero, 0.0, ref_theta), THETA_FLOOR)
    if case.spec["kind"] == "lmer":
        problems += _relative_problems("sigma", [model.sigma], [ref["sigma"]], 0.0)
    mine = {varcorr_key(r.grp, r.var1, r.var2): (r.vcov, r.sdcor) for r in model.varcorr().itertuples()}
    theirs = {varcorr_key(r["grp"], r["var1"], r["var2"]): (number(r["vcov"]), number(r["sdcor"]))
              for r in as_list(ref["varcorr"])}
    if set(mine) != set(theirs):
        return problems + [f"varcorr rows {sorted(mine)} differ from lme4's {sorted(theirs)}"]
    keys = sorted(theirs)
    for k in _undefined_correlations(mine, theirs):
        mine[k] = (mine[k][0], np.nan)
        theirs[k] = (theirs[k][0], np.nan)
    for j, (column, floor) in enumerate((("vcov", THETA_FLOOR ** 2), ("sdcor", THETA_FLOOR))):
        problems += _scaled(f"varcorr {column}", [mine[k][j] for k in keys], [theirs[k][j] for k in keys], floor)
    return problems


def name_problems(case, model):
    """lme4's names and order: fixed effects, theta, and the rows of VarCorr."""
    ref = case.best
    problems = []
    if list(model.fixef().index) != as_list(ref["beta_names"]):
        problems.append(f"fixef names {list(model.fixef().index)} != lme4's {as_list(ref['beta_names'])}")
    if list(model.theta.index) != as_list(ref["theta_names"]):
        problems.append(f"theta names {list(model.theta.index)} != lme4's {as_list(ref['theta_names'])}")
    vc = model.varcorr()
    mine = [(r.grp, str(r.var1) if pd.notna(r.var1) else "", str(r.var2) if pd.notna(r.var2) else "")
            for r in vc.itertuples()]
    theirs = [(r["grp"], r["var1"], r["var2"]) for r in as_list(ref["varcorr"])]
    if mine != theirs:
        problems.append(f"varcorr rows {mine} != lme4's {theirs}")
    return problems


SUMMARY = HERE.parents[1] / "build" / "differential" / "summary.csv"


def write_summary(terminalreporter):
    """The closing summary: fits where mixedlite finds a lower objective than lme4 (and build/differential/summary.csv)."""
    if not RESULTS:
        return
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    columns = ["id", "kind", "formula", "lme4_default", "lme4_tight", "mixedlite", "gap", "lower", "seconds"]
    with SUMMARY.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for case_id, r in sorted(RESULTS.items()):
            writer.writerow([case_id] + [r[c] for c in columns[1:]])
    lower = sorted((r["gap"], case_id, r) for case_id, r in RESULTS.items() if r["lower"])
    default_short = sum(r["lme4_default"] > r["lme4_tight"] + 1e-6 for r in RESULTS.values())
    seconds = sum(r["seconds"] for r in RESULTS.values())
    terminalreporter.section("differential suite (mixedlite vs lme4)")
    terminalreporter.write_line(
        f"{len(RESULTS)} fits compared in {seconds:.1f} s; lme4's default stops > 1e-6 above its tight "
        f"optimum in {default_short}; mixedlite lower than lme4's best in {len(lower)} (table: {SUMMARY})")
    for gap, case_id, r in lower:
        terminalreporter.write_line(f"  {case_id:18s} {gap:+.3g}  lme4 default {r['lme4_default']:.8f}  "
                                    f"tight {r['lme4_tight']:.8f}  mixedlite {r['mixedlite']:.8f}  {r['formula']}")
