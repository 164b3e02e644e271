"""Bounded derivative-free minimisation, as lme4 does it.

lme4's default optimiser for ``lmer`` is NLopt's BOBYQA (``nloptwrap``) with
``xtol_abs = 1e-8`` and ``ftol_abs = 1e-8``.  We call the same NLopt algorithm, so a fit
follows nearly the same path as lme4's.  One deliberate difference: the change in the
criterion that ends the search is relative (``ftol_rel = 1e-12``), not absolute.  An
absolute 1e-8 stops early in a flat valley of a criterion near 2000 (the clinic tutorial's
random-slope model: lme4's rule stops 1.7e-6 above the optimum, with the intercept variance
0.1% off), while for InstEval's criterion near 240000 it is below rounding error.

Switching optimiser -- one of the remedies for a convergence warning -- is
``optimizer="Nelder_Mead"`` (or ``"sbplx"``, ``"cobyla"``).
"""
import functools
from dataclasses import dataclass

import nlopt
import numpy as np
from threadpoolctl import ThreadpoolController

ALGORITHMS = {
    "bobyqa": nlopt.LN_BOBYQA,
    "Nelder_Mead": nlopt.LN_NELDERMEAD,
    "sbplx": nlopt.LN_SBPLX,
    "cobyla": nlopt.LN_COBYLA,
}

RESULTS = {
    nlopt.SUCCESS: "NLOPT_SUCCESS: Generic success return value.",
    nlopt.STOPVAL_REACHED: "NLOPT_STOPVAL_REACHED",
    nlopt.FTOL_REACHED: "NLOPT_FTOL_REACHED: Optimization stopped because ftol_rel or ftol_abs was reached.",
    nlopt.XTOL_REACHED: "NLOPT_XTOL_REACHED: Optimization stopped because xtol_rel or xtol_abs was reached.",
    nlopt.MAXEVAL_REACHED: "NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval was reached.",
    nlopt.MAXTIME_REACHED: "NLOPT_MAXTIME_REACHED",
}


@functools.cache
def _blas_controller():
    return ThreadpoolController()


def single_threaded_blas():
    """A context that limits BLAS to one thread.

    The matrices of one evaluation are small or medium (InstEval's dense block is 1161 x 1161),
    so a second thread gains little; on a shared, busy machine an oversubscribed threaded BLAS
    makes each evaluation several times slower.
    """
    return _blas_controller().limit(limits=1, user_api="blas")


@dataclass
class OptimizerResult:
    x: np.ndarray
    fun: float
    evaluations: int
    message: str
    converged: bool


def minimize(fun, start, lower, upper=None, optimizer="bobyqa", maxeval=100_000, xtol_abs=1e-8, ftol_rel=1e-12,
             initial_step=None, ftol_abs=0.0):
    """Minimise ``fun`` from ``start`` subject to ``lower <= x <= upper``.

    ``initial_step`` (per coordinate) sets the size of the first moves; refits that start
    at a nearby optimum converge in fewer evaluations with a step scaled to ``start``.

    Returns an :class:`OptimizerResult`; ``converged`` is False when the evaluation budget
    ran out (lme4's "maxeval reached" warning).
    """
    if optimizer not in ALGORITHMS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(ALGORITHMS)}")
    start = np.asarray(start, dtype=float)
    count = [0]
    best = {"fun": np.inf, "x": start}

    def objective(x, grad):
        count[0] += 1
        value = fun(x)
        value = value if np.isfinite(value) else 1e300
        if value < best["fun"]:
            best.update(fun=value, x=np.array(x))
        return value

    opt = nlopt.opt(ALGORITHMS[optimizer], len(start))
    opt.set_min_objective(objective)
    opt.set_lower_bounds(np.asarray(lower, dtype=float))
    if upper is not None:
        opt.set_upper_bounds(np.asarray(upper, dtype=float))
    opt.set_xtol_abs(xtol_abs)
    opt.set_ftol_abs(ftol_abs)
    opt.set_ftol_rel(ftol_rel)
    opt.set_maxeval(int(maxeval))
    if initial_step is not None:
        opt.set_initial_step(np.asarray(initial_step, dtype=float))
    with single_threaded_blas():
        try:
            x = opt.optimize(np.clip(start, lower, upper if upper is not None else np.inf))
        except nlopt.RoundoffLimited:
            # NLopt's status -4: no further progress is possible in floating point.  nloptr (and so
            # lme4) returns the best point with that status; Python's nlopt raises instead.
            return OptimizerResult(x=best["x"], fun=best["fun"], evaluations=count[0],
                                   message="NLOPT_ROUNDOFF_LIMITED: Roundoff errors limited progress.",
                                   converged=True)
    code = opt.last_optimize_result()
    return OptimizerResult(x=x, fun=opt.last_optimum_value(), evaluations=count[0],
                           message=RESULTS.get(code, f"NLopt result code {code}"),
                           converged=code != nlopt.MAXEVAL_REACHED)
