"""The cost of one evaluation of glmer's deviance, apart from how many evaluations the optimiser makes.

Run: ``python benchmarks/bench_deviance.py``.  For cbpp, grouseticks (with its observation-level term)
and VerbAgg -- the GLMMs of issue 13 -- it fits the model once, then times the stage-2 Laplace deviance
(PIRLS for u at given theta and beta) and the stage-1 deviance (PIRLS for u and beta at given theta)
at 30 fixed points within 0.1% of the optimum, all from the optimum's starting predictor (lme4's
``lp0``).  It prints the best of 7 rounds per evaluation and the PIRLS steps an evaluation takes, so
that a change to the evaluation can be timed without the noise of a changed optimiser path.
"""
import time
import warnings

import numpy as np

import mixedlite as ml
from bench_vs_lme4 import CASES

MODELS = [c for c in CASES if c.label.startswith(("cbpp", "grouseticks", "VerbAgg main"))]


def time_evaluations(function, points, rounds=7):
    """Best time per evaluation, in ms, over ``rounds`` passes through ``points``."""
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for x in points:
            function(x)
        best = min(best, (time.perf_counter() - start) / len(points))
    return best * 1e3


def pirls_steps(model, function, points):
    """PIRLS steps per evaluation (penalized least-squares solves, step halvings not counted)."""
    pirls, steps = model.pirls, []
    solve = pirls._weighted_step
    pirls._weighted_step = lambda *args: steps.append(1) or solve(*args)
    try:
        for x in points:
            function(x)
    finally:
        del pirls._weighted_step
    return len(steps) / len(points)


def main():
    print(f"{'model':<55} {'stage 2 ms':>10} {'steps':>5} {'stage 1 ms':>10} {'steps':>5}")
    for case in MODELS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = case.fit_mixedlite(ml.load_dataset(case.dataset))
        optimum = np.r_[model.theta.to_numpy(), model.beta]
        rng = np.random.default_rng(0)
        points = [optimum * (1 + 1e-3 * rng.standard_normal(len(optimum))) for _ in range(30)]
        k = len(model.theta)
        row = []
        for function in (model.deviance_function, lambda x: model._stage1_deviance(x[:k])):
            row += [time_evaluations(function, points), pirls_steps(model, function, points)]
        print(f"{case.label:<55} {row[0]:10.3f} {row[1]:5.1f} {row[2]:10.3f} {row[3]:5.1f}")


if __name__ == "__main__":
    main()
