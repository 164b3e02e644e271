"""Benchmark: 1000 parametric-bootstrap refits of sleepstudy ``Reaction ~ Days + (Days | Subject)``.

Target (issue 3): under 10 s on the course's 2-core machine (lme4's bootMer takes about 18 s).
Run:  python benchmarks/bench_bootstrap.py [nsim]
"""
import sys
import time

import mixedlite as ml


def main(nsim=1000):
    data = ml.load_dataset("sleepstudy")
    model = ml.lmer("Reaction ~ Days + (Days | Subject)", data)
    start = time.perf_counter()
    result = ml.bootmer(model, lambda m: m.fixef(), nsim=nsim, seed=1, progress=False)
    seconds = time.perf_counter() - start
    print(f"{nsim} parametric-bootstrap refits: {seconds:.2f} s ({nsim / seconds:.0f} refits/second); "
          f"{result.warnings_count} refits warned")
    print(result.confint())
    return seconds


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
