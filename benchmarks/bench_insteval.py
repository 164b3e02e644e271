"""Only the InstEval case of :mod:`bench_vs_lme4` (issue 13, item 5: at most 0.1 of lme4's time).

Run: ``python benchmarks/bench_insteval.py``; mixedlite and lme4 timed in one run.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_vs_lme4  # noqa: E402

INSTEVAL = [case for case in bench_vs_lme4.CASES if case.dataset == "InstEval"]

if __name__ == "__main__":
    bench_vs_lme4.main(INSTEVAL)
