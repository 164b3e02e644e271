"""Time lmer on sleepstudy and InstEval, and compare with lme4's fit times.

Run: ``python benchmarks/bench_lmm.py``.  lme4's times (``seconds`` in the reference fits)
were measured on a 2-core machine like this one; they are a rough anchor, so the ratios
printed here come from one run on this machine, not from a comparison across machines.
Targets (issue 2): sleepstudy under 10 ms per fit, InstEval under 3 s.  Where R with lme4 is
installed, a table follows with lme4 timed on the same models in the same run (:mod:`bench_vs_lme4`);
``MIXEDLITE_BENCH_R=0`` skips it.
"""
import json
import statistics
import time
from pathlib import Path

import mixedlite as ml
from bench_vs_lme4 import Case, print_side_by_side

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def lme4_seconds(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())["seconds"]


def time_fit(formula, data, repeats):
    times, model = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        model = ml.lmer(formula, data)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), model


def main():
    ours = {}
    sleep = ml.load_dataset("sleepstudy")
    median, best, m = time_fit("Reaction ~ Days + (Days | Subject)", sleep, repeats=50)
    ours["sleepstudy (Days | Subject), REML"] = (median, m.objective)
    print(f"sleepstudy (Days | Subject), REML: median {median * 1e3:.1f} ms, best {best * 1e3:.1f} ms per fit "
          f"({m.optinfo.evaluations} evaluations); lme4 {lme4_seconds('sleepstudy_slopes_reml') * 1e3:.0f} ms "
          f"-> {lme4_seconds('sleepstudy_slopes_reml') / median:.1f}x faster")

    insteval = ml.load_dataset("InstEval")
    median, best, m = time_fit("y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", insteval, repeats=3)
    ours["InstEval crossed (s, d, dept:service), REML"] = (median, m.objective)
    print(f"InstEval crossed (s, d, dept:service), REML: median {median:.2f} s, best {best:.2f} s per fit "
          f"({m.optinfo.evaluations} evaluations); lme4 {lme4_seconds('insteval_crossed_reml'):.1f} s "
          f"-> {lme4_seconds('insteval_crossed_reml') / median:.1f}x faster")
    print()
    print_side_by_side([Case("sleepstudy (Days | Subject), REML", "sleepstudy", "Reaction ~ Days + (Days | Subject)",
                             repeats=10),
                        Case("InstEval crossed (s, d, dept:service), REML", "InstEval",
                             "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", repeats=1)], ours)


if __name__ == "__main__":
    main()
