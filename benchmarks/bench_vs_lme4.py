"""mixedlite and lme4 side by side on the models of issue 13 (item 5), timed in one run on this machine.

Run: ``python benchmarks/bench_vs_lme4.py``.  For each model: mixedlite's median fit time over a few
fits, then, where ``Rscript`` with lme4 is installed, lme4's median over a few fits of the same model
on the same data (timed inside R with ``system.time``, so R's start-up is not counted), the ratio
mixedlite / lme4 (below 1: mixedlite is faster; the goal of issue 13 is at most 0.5 for the GLMMs
and at most 0.1 for InstEval) and both objectives (-2 log-likelihood, or the REML criterion), which
show that the two fitted the same model.  Without R it prints mixedlite's times and says why the ratio
is missing.  ``MIXEDLITE_BENCH_R=0`` skips R.  ``python benchmarks/bench_vs_lme4.py InstEval cbpp`` times
only the models of those datasets.

Both sides fit the same data: lme4's own copies of cbpp, grouseticks, VerbAgg, InstEval and
sleepstudy, of which mixedlite's bundled datasets are exports.  Times on a shared machine vary from
run to run: compare ratios from one run, not times across runs.

Other benchmarks import :func:`print_side_by_side` to print lme4's times beside their own.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import mixedlite as ml


@dataclass
class Case:
    """One model: how mixedlite fits it and how lme4 fits it (the R call), and how often to time each."""

    label: str
    dataset: str
    formula: str
    family: str = "gaussian"        # "gaussian": lmer (REML), else glmer with this family
    repeats: int = 3                # fits timed on each side (the median is reported)
    options: dict = field(default_factory=dict)   # mixedlite's keyword arguments, e.g. {"nAGQ": 9}
    r_options: str = ""             # the same for lme4, e.g. ", nAGQ = 9"

    def fit_mixedlite(self, data):
        """The fit and the fixed effects' covariance, as lme4's fit computes it: glmer's finite-difference
        Hessian, which mixedlite computes when ``vcov()`` is first asked for, is part of lme4's fit."""
        if self.family == "gaussian":
            model = ml.lmer(self.formula, data, **self.options)
        else:
            model = ml.glmer(self.formula, data, family=self.family, **self.options)
        model.vcov()
        return model

    def r_call(self):
        if self.family == "gaussian":
            return f"lmer({self.formula}, {self.dataset}, REML = TRUE{self.r_options})"
        return f"glmer({self.formula}, {self.dataset}, family = {self.family}{self.r_options})"


CASES = [
    Case("sleepstudy (Days | Subject), REML", "sleepstudy", "Reaction ~ Days + (Days | Subject)", repeats=20),
    Case("cbpp (1 | herd), binomial", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
         "binomial", repeats=20),  # a 25 ms fit: 5 timings gave medians 30% apart
    Case("grouseticks, 3 terms incl. observation-level, Poisson", "grouseticks",
         "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson"),
    Case("VerbAgg main effects, binomial", "VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
         "binomial"),
    Case("VerbAgg two-way interactions, binomial", "VerbAgg",
         "r2 ~ (Anger + Gender + btype + situ)^2 + (1 | id) + (1 | item)", "binomial", repeats=1),
    Case("InstEval (1 | s) + (1 | d) + (1 | dept), REML", "InstEval",
         "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)", repeats=1),
]

R_SCRIPT = """suppressMessages(library(lme4))
time_fit <- function(label, fit_once, repeats) {
  seconds <- numeric(repeats)
  for (i in seq_len(repeats)) seconds[i] <- system.time(fit <- suppressWarnings(fit_once()))[["elapsed"]]
  cat(sprintf("%s\\t%.6f\\t%.6f\\n", label, median(seconds), -2 * as.numeric(logLik(fit))))
}
"""


def time_in_lme4(cases, timeout=1800):
    """lme4's median fit time and objective for each case: ``({label: (seconds, objective)}, reason)``.

    ``reason`` says why there are no lme4 times (no Rscript, no lme4, R failed), else it is None.
    """
    if os.environ.get("MIXEDLITE_BENCH_R", "1") == "0":
        return {}, "MIXEDLITE_BENCH_R=0 was set"
    if shutil.which("Rscript") is None:
        return {}, "Rscript is not installed (apt-get install r-base-core r-cran-lme4 to compare with lme4)"
    script = R_SCRIPT + "".join(f'time_fit("{i}", function() {c.r_call()}, {c.repeats})\n'
                                for i, c in enumerate(cases))
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(script)
    try:
        run = subprocess.run(["Rscript", "--vanilla", f.name], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}, f"lme4 did not finish within {timeout} s"
    finally:
        os.unlink(f.name)
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines() or ["no output"]
        error = next((line for line in lines if line.startswith("Error")), lines[-1])
        return {}, f"Rscript failed ({error}); is lme4 installed?"
    out = {}
    for line in run.stdout.splitlines():
        index, seconds, objective = line.split("\t")
        out[cases[int(index)].label] = (float(seconds), float(objective))
    return out, None


def time_in_mixedlite(case):
    """mixedlite's median fit time over ``case.repeats`` fits, and the last fit."""
    data = ml.load_dataset(case.dataset)
    times, model = [], None
    for _ in range(case.repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = case.fit_mixedlite(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times), model


def print_side_by_side(cases, ours):
    """Time lme4 on ``cases`` and print a table beside mixedlite's ``{label: (seconds, objective)}``."""
    theirs, reason = time_in_lme4(cases)
    print(f"{'model':<55} {'mixedlite s':>11} {'lme4 s':>9} {'ratio':>6}  objective mixedlite / lme4")
    for case in cases:
        seconds, objective = ours[case.label]
        if case.label in theirs:
            r_seconds, r_objective = theirs[case.label]
            print(f"{case.label:<55} {seconds:11.3f} {r_seconds:9.3f} {seconds / r_seconds:6.2f}  "
                  f"{objective:.4f} / {r_objective:.4f}")
        else:
            print(f"{case.label:<55} {seconds:11.3f} {'-':>9} {'-':>6}  {objective:.4f}")
    if reason:
        print(f"no lme4 times, so no ratios: {reason}")
    else:
        print("ratio = mixedlite / lme4, both timed in this run (below 1: mixedlite is faster)")


def main(cases=CASES):
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start: times move with the machine's load")
    ours = {}
    for case in cases:
        seconds, model = time_in_mixedlite(case)
        ours[case.label] = (seconds, model.objective)
        print(f"mixedlite  {case.label}: {seconds:.3f} s (median of {case.repeats})", flush=True)
    print()
    print_side_by_side(cases, ours)


if __name__ == "__main__":
    datasets, known = sys.argv[1:], sorted({case.dataset for case in CASES})
    unknown = [name for name in datasets if name not in known]
    if unknown:
        sys.exit(f"no model of dataset {', '.join(unknown)} here: choose from {', '.join(known)}")
    main([case for case in CASES if case.dataset in datasets] if datasets else CASES)
