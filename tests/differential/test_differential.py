"""mixedlite against lme4 1.1-31 on the randomized differential suite (issue 10).

Several hundred seeded datasets and models (``generate.py``) fitted by lme4 with default and
with tight tolerances (``fit_lme4.R``, fixtures committed; no R needed here).  For each case:
mixedlite fits without an exception, its objective is at most lme4's best + 1e-5 relative,
and where it is not lower its estimates are within 1e-4 of lme4's (rule and tolerances in
``differential_cases``); its names follow lme4's.  The closing summary lists the fits where
mixedlite finds a lower objective than lme4 (``build/differential/summary.csv`` has every case).
"""
import json

import numpy as np
import pytest

from differential_cases import (HERE, RESULTS, estimate_problems, fit_mixedlite, is_lower,
                                load_cases, name_problems, objective_gap, objective_problems)

# Cases that fail on today's library because of a known bug (issue 10's items), id -> the bug,
# written by triage.py.  Strict: when a fix lands the case XPASSes and fails: rerun
# `python tests/differential/triage.py --write` to update the list.
KNOWN = json.loads((HERE / "known_failures.json").read_text())
KNOWN_FAILURES, KNOWN_NAME_FAILURES = KNOWN["fit"], KNOWN["names"]

CASES = load_cases()
_FITS = {}


def fitted(case):
    if case.id not in _FITS:
        _FITS[case.id] = fit_mixedlite(case.spec)
    return _FITS[case.id]


def params(known):
    out = []
    for case in CASES:
        marks = []
        if case.id in known:
            marks.append(pytest.mark.xfail(strict=True, reason=known[case.id]))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def test_suite_is_large_enough():
    assert len(CASES) >= 500
    assert sum("error" not in c.lme4 for c in CASES) >= 500


@pytest.mark.parametrize("case", params(KNOWN_FAILURES))
def test_fit_matches_lme4(case):
    fit = fitted(case)
    if "error" in case.lme4:  # nothing to compare: mixedlite may refuse too, or fit (a finite optimum)
        assert fit.error is not None or np.isfinite(fit.model.objective)
        return
    assert fit.error is None, f"mixedlite raised where lme4 fits: {fit.error}"
    gap = objective_gap(case, fit.model)
    lower = is_lower(case, fit.model)
    RESULTS[case.id] = {"formula": case.spec["ml_formula"], "kind": case.spec["kind"],
                        "lme4_default": case.lme4["default"]["objective"],
                        "lme4_tight": case.lme4["tight"]["objective"],
                        "mixedlite": fit.model.objective, "gap": gap, "lower": lower, "seconds": fit.seconds}
    problems = objective_problems(case, fit.model)
    if not lower:
        problems += estimate_problems(case, fit.model)
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("case", params(KNOWN_NAME_FAILURES))
def test_names_follow_lme4(case):
    if "error" in case.lme4:
        pytest.skip(f"lme4 refuses this model: {case.lme4['error']}")
    fit = fitted(case)
    assert fit.error is None, f"mixedlite raised where lme4 fits: {fit.error}"
    problems = name_problems(case, fit.model)
    assert not problems, "; ".join(problems)
