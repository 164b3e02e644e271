"""Fit every case of the differential suite and sort the disagreements with lme4 by cause.

    python tests/differential/triage.py           # prints a table of the failing cases
    python tests/differential/triage.py --write   # and rewrites known_failures.json from it

``known_failures.json`` lists the cases that fail on the current library, each with the cause
(issue 10's item numbers); the pytest module marks them xfail(strict=True), so a case that a
fix makes pass shows up as XPASS(strict) and its entry must be removed -- rerun this script
after a fix lands.  Entries under "keep" (written by hand: a cause no library fix can remove)
are carried over as they are.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from differential_cases import (HERE, estimate_problems, fit_mixedlite, is_lower,  # noqa: E402
                                load_cases, name_problems, objective_gap, objective_problems)

KNOWN = HERE / "known_failures.json"


def fit_cause(case, fit):
    """Why the numeric comparison fails (None if it passes)."""
    if fit.error:
        if "RoundoffLimited" in fit.error:
            return "issue 10 item 4: NLopt's RoundoffLimited escapes the optimiser (badly scaled slope)"
        return f"mixedlite raises: {fit.error[:120]}"
    gap = objective_gap(case, fit.model)
    kind = case.spec["kind"]
    if objective_problems(case, fit.model):
        item = "item 6: glmer stops short" if kind == "glmer" else "lmer stops short"
        return f"issue 10 {item} of lme4's optimum (objective {gap:.2g} above lme4's best)"
    if is_lower(case, fit.model):
        return None
    problems = estimate_problems(case, fit.model)
    if not problems:
        return None
    if {p.split("[")[0] for p in problems} == {"se"} and kind != "lmer":
        fit_kind = "singular" if case.best["singular"] else "regular"
        return (f"glmer standard errors differ from lme4's (vcov from the finite-difference Hessian of the "
                f"deviance in theta and beta), {fit_kind} fit, objective {gap:+.1e} from lme4's: {problems[0][:90]}")
    return (f"issue 10 item 7: {kind} optimum not precise (objective {gap:+.1e} from lme4's tight optimum; "
            f"{problems[0][:90]})")


def name_cause(case, fit):
    if fit.error:
        return fit_cause(case, fit)
    problems = name_problems(case, fit.model)
    if not problems:
        return None
    if any(":(" in n for n in case.best["theta_names"]):
        return "issue 10 item 8: nested groups are named c:b:a, lme4 names them c:(b:a)"
    return f"issue 10 item 8: names or order differ from lme4's: {problems[0][:150]}"


def triage():
    fits, names = {}, {}
    for case in load_cases():
        if "error" in case.lme4:
            continue
        fit = fit_mixedlite(case.spec)
        for table, cause in ((fits, fit_cause(case, fit)), (names, name_cause(case, fit))):
            if cause:
                table[case.id] = cause
    return fits, names


def main():
    fits, names = triage()
    old = json.loads(KNOWN.read_text()) if KNOWN.exists() else {}
    keep = old.get("keep", {})
    for case_id, cause in sorted(fits.items()):
        print(f"fit   {case_id:18s} {keep.get(case_id, cause)}")
    for case_id, cause in sorted(names.items()):
        print(f"names {case_id:18s} {cause}")
    print(f"{len(fits)} numeric and {len(names)} naming disagreements")
    if "--write" in sys.argv:
        table = {"keep": keep,
                 "fit": {k: keep.get(k, v) for k, v in sorted(fits.items())},
                 "names": dict(sorted(names.items()))}
        KNOWN.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
