"""Bounded derivative-free minimisation, as lme4 does it.

lme4's default optimiser for ``lmer`` is NLopt's BOBYQA (``nloptwrap``) with
``xtol_abs = 1e-8`` and ``ftol_abs = 1e-8``.  We call the same NLopt algorithm, so a fit
follows nearly the same path as lme4's.  One deliberate difference: the change in the
criterion that ends the search is by default relative (``ftol_rel = 1e-12``), not absolute.
An absolute 1e-8 stops early in a flat valley of a criterion near 2000 (the clinic tutorial's
random-slope model: lme4's rule stops 1.7e-6 above the optimum, with the intercept variance
0.1% off).  lmer stops at the smaller of the two (:class:`mixedlite.core.fitting.Criterion`).

Switching optimiser -- one of the remedies for a convergence warning -- is
``optimizer="Nelder_Mead"`` (or ``"sbplx"``, ``"cobyla"``).

NLopt gives up with an exception when rounding errors break its model of the criterion
(``RoundoffLimited``, typically a badly scaled predictor in a random slope).  As lme4, we
return the best point evaluated, flagged as not converged; the fit warns and names the remedy.

After the optimiser stops, :func:`newton_polish` finishes the job with Newton steps
``x - H^-1 g`` on the finite-difference gradient and Hessian of the convergence check
(:func:`mixedlite.core.diagnostics.deriv12`), each kept only if it lowers the criterion.
Derivative-free optimisers crawl in flat valleys; one Newton step there lands on the optimum.
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
ROUNDOFF_MESSAGE = "NLOPT_ROUNDOFF_LIMITED: Roundoff errors led to a breakdown of the optimization algorithm."
FAILURE_MESSAGE = "NLOPT_FAILURE: Generic failure code."
BOUNDARY_TOL = 1e-8  # a coordinate this close to its lower bound is on it (for the Newton polish)
START_ON_BOUND = 1e-5  # lme4's boundary.tol: a start this close to its lower bound starts on it (_snapped_start)


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
    failed: bool = False  # NLopt broke down (roundoff); x is the best point it evaluated


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
    best = {"x": None, "f": np.inf, "error": None}

    def objective(x, grad):
        count[0] += 1
        try:
            value = fun(x)
        except BaseException as error:  # re-raised below as itself, not as NLopt's wrapper
            best["error"] = error
            raise
        value = value if np.isfinite(value) else 1e300
        if value < best["f"]:
            best["x"], best["f"] = x.copy(), value
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
    try:
        with single_threaded_blas():
            x = opt.optimize(_snapped_start(start, lower, upper))
    except (nlopt.RoundoffLimited, RuntimeError) as error:
        if best["error"] is not None:
            raise best["error"]
        if best["x"] is None:
            raise
        message = ROUNDOFF_MESSAGE if isinstance(error, nlopt.RoundoffLimited) else FAILURE_MESSAGE
        return OptimizerResult(x=best["x"], fun=best["f"], evaluations=count[0], message=message,
                               converged=False, failed=True)
    code = opt.last_optimize_result()
    return OptimizerResult(x=x, fun=opt.last_optimum_value(), evaluations=count[0],
                           message=RESULTS.get(code, f"NLopt result code {code}"),
                           converged=code != nlopt.MAXEVAL_REACHED)


def _snapped_start(start, lower, upper):
    """The start inside the bounds, with coordinates within ``START_ON_BOUND`` of their lower bound put on it.

    NLopt scales its first step in a coordinate by the distance to the bound (0.75 of it), but takes
    a step of 1 for a coordinate on its bound: from a start at theta = 9e-7 (a singular stage-1 optimum
    that stopped just short of zero) BOBYQA moves that coordinate by at most 7e-7 at first and crawls,
    from 0 freely (tests/differential poisson_011_1: stage 2 ended with a slope SD of 0.0018 where
    lme4's is 0, 3.3e-6 above lme4's deviance).  The criterion barely differs between the two starts."""
    lower = np.asarray(lower, dtype=float)
    start = np.clip(start, lower, upper if upper is not None else np.inf)
    return np.where(start - lower <= START_ON_BOUND, lower, start)


def free_coordinates(x, gradient, lower):
    """The coordinates an optimum can still move along: off their lower bound, or on it with the
    criterion falling into the interior (``g_i < 0``)."""
    return ~((x - np.asarray(lower) <= BOUNDARY_TOL) & (gradient >= 0))


def newton_candidate(x, gradient, hessian, lower):
    """The Newton point ``x - H_ff^-1 g_f`` over the free coordinates f, clipped to the bounds;
    None when ``H_ff`` is not positive definite (no descent step to trust)."""
    free = free_coordinates(x, gradient, lower)
    if not free.any() or not (np.all(np.isfinite(hessian[np.ix_(free, free)]))
                              and np.all(np.isfinite(gradient[free]))):
        return None
    try:
        factor = np.linalg.cholesky(hessian[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        return None
    step = np.zeros(len(x))
    step[free] = -np.linalg.solve(factor.T, np.linalg.solve(factor, gradient[free]))
    return np.maximum(x + step, lower)


def newton_polish(fun, x, fx, gradient, hessian, lower, gradient_fun=None, max_steps=3, rounding=0.0, again_gain=0.0):
    """Newton steps from the optimiser's answer, each kept only if it lowers ``fun``.

    ``gradient`` and ``hessian`` are the finite differences at ``x`` (lme4's ``deriv12``).
    A rejected full step is halved once.  After an accepted step that lowered ``fun`` by more than
    ``again_gain`` the gradient is refreshed with ``gradient_fun`` (if given; the Hessian is kept: it
    barely changes over such a step) and the next step taken; otherwise the polish ends.  Returns
    ``(x, fx, gradient, steps)``: the gradient is that at the returned x when it was refreshed, else the
    one given.

    ``rounding``: the relative rounding error of ``fun``.  A step whose predicted gain
    ``-g's / 2`` is below ``rounding * |fx|`` cannot be judged by ``fun``, whose change is noise
    there; it is kept unless ``fun`` rises beyond its rounding.  Such a step still fixes x far
    better than the noise of ``fun`` allows (the finite-difference gradient averages it out),
    so two fits of the same model whose data differ in the last bits end at the same x.
    """
    steps = 0
    for _ in range(max_steps):
        candidate = newton_candidate(x, gradient, hessian, lower)
        if candidate is None:
            break
        f_new = fun(candidate)
        noise = rounding * abs(fx)
        below_noise = -0.5 * gradient @ (candidate - x) <= noise
        if not (f_new < fx or (below_noise and f_new <= fx + noise)):
            candidate = (x + candidate) / 2
            f_new = fun(candidate)
            if not f_new < fx:
                break
        gain = fx - f_new
        x, fx, steps = candidate, f_new, steps + 1
        if gradient_fun is None or not gain > again_gain:
            break
        gradient = gradient_fun(x)
    return x, fx, gradient, steps
