"""Time glmer on cbpp (binomial, Laplace and nAGQ = 9) and grouseticks (Poisson, three terms) against lme4.

Run: ``python benchmarks/bench_glmm.py``.  lme4's times (``seconds`` in the reference fits:
cbpp Laplace 0.107 s, cbpp nAGQ = 9 0.075 s, grouseticks 1.006 s) were measured on a 2-core
machine like this one: a rough anchor.  Where R with lme4 is installed, a table follows with lme4
timed on the same models in the same run (:mod:`bench_vs_lme4`); ``MIXEDLITE_BENCH_R=0`` skips it.

The fits use small dense factorisations; BLAS runs single-threaded during a fit
(``mixedlite.core.optimize.single_threaded_blas``), since a threaded BLAS slows badly on a busy machine.
"""
import json
import statistics
import time
import warnings
from pathlib import Path

import mixedlite as ml
from bench_vs_lme4 import Case, print_side_by_side

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
CASES = [("cbpp_binomial_laplace", "cbpp", "binomial", 10),
         ("cbpp_binomial_agq9", "cbpp", "binomial", 10),
         ("grouseticks_poisson_laplace", "grouseticks", "poisson", 3)]


def main():
    ours, cases = {}, []
    for name, dataset, family, repeats in CASES:
        ref = json.loads((FIXTURES / f"{name}.json").read_text())
        data = ml.load_dataset(dataset)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ml.glmer(ref["formula"], data, family=family, nAGQ=ref["nAGQ"])
                model.vcov()  # the Hessian for the SEs: computed on first use, inside lme4's fit
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        evaluations = " + ".join(str(o.evaluations) for o in model.optinfo)
        print(f"{name}: median {median:.3f} s, best {min(times):.3f} s over {repeats} fits "
              f"({evaluations} deviance evaluations + Hessian); lme4 {ref['seconds']:.3f} s; "
              f"ratio {median / ref['seconds']:.2f}; -2 logLik {model.objective:.6f} (lme4 {ref['objective']:.6f})")
        ours[name] = (median, model.objective)
        cases.append(Case(name, dataset, ref["formula"], family, repeats, r_options=f", nAGQ = {ref['nAGQ']}"))
    print()
    print_side_by_side(cases, ours)


if __name__ == "__main__":
    main()
