"""Fitting theta: one driver for lmer and for glmer's two stages (:func:`fit_theta`).

A model supplies its criterion (:class:`Criterion`: the function, its bounds, the optimiser, the
search coordinates) and says which of the policies below apply (:class:`Policies`); the driver runs
the optimiser, restarts it where the policies say it stopped short, polishes the optimum with Newton
steps, and keeps the finite-difference derivatives of the convergence checks (:class:`ThetaFit`).

    lmer              edge restart, gradient restarts (BOBYQA), restarts after a breakdown, Newton polish
    glmer stage 1     mirror restart (nAGQ = 0 deviance: no derivatives)
    glmer stage 2     gradient restarts (Nelder-Mead, until one finds the same optimum), Newton polish,
                      mirror restart, turn restart, saddle restart

The policies, and what each is for:

* **edge restart** (lme4's ``restart_edge``, lmer): the optimiser stopped with theta on its bound where
  a small step into the interior lowers the criterion (:func:`leaves_boundary_downhill`): one more run
  from there, kept if lower.
* **gradient restarts**: while lme4's gradient check fails at the optimum, up to ``MAX_RESTARTS`` fresh
  runs from it, each kept only if it lowers the criterion.  BOBYQA can stop early in a flat valley, or
  break down (NLopt's roundoff limit) on a badly scaled criterion (lmer: a run that broke down is
  restarted too).  glmer's Laplace deviance is rough (PIRLS stops at a tolerance) and BOBYQA can stop
  well short of its optimum: on 60 randomized binomial ``(x | g)`` and Poisson ``(1 | g) + (1 | obs)``
  fits (tests/test_optimizer.py) BOBYQA alone stopped above lme4's optimum in 11; BOBYQA restarts left
  1, Nelder-Mead restarts (``RESTART_OPTIMIZER``, lme4's stage-2 optimiser) none.  glmer's restarts end
  when one lowers the deviance by less than ``SAME_OPTIMUM``: the check then fails from the scaling or
  the finite differences' noise, not from an optimiser stopping short (grouseticks with the uncentred
  HEIGHT: a third run of 364 evaluations found nothing; in the tests no restart after such a one ever
  lowered the deviance; tests/test_fast_paths.py).  glmer's restarts start near an optimum, so their first
  steps are ``RESTART_STEP`` of each coordinate (at least of 0.1): with NLopt's default (the coordinate
  itself, 11 for grouseticks' intercept) the Nelder-Mead restart spent 250 of its 358 evaluations
  shrinking its simplex before its first gain; with these it ended at the same optimum in 237
  (1780.5427069888 against 1780.5427069893, before stage 2 searched a centred intercept:
  ``glmm.centred_intercept``; the differential suite and the 60 randomized fits pass as before).  Each
  model says when the check fails: lmer where its checks report it (lme4's message; not on a singular
  fit, whose gradient lme4 does not check), glmer on the coordinates not held at a bound, singular fits
  included (``glmm._gradient_fails``).
* **Newton polish** (:func:`mixedlite.core.optimize.newton_polish`): Newton steps on the finite-difference
  gradient and Hessian (lme4's ``deriv12``, needed anyway for the checks and glmer's standard errors),
  each kept only where it lowers the criterion.  While the gradient check fails the gradient is
  refreshed after each step (2k evaluations) and another step taken; when it passes, one step is tried,
  and another only if that one gained more than ``POLISH_AGAIN`` (relative): the optimiser then stopped
  far enough from the optimum for the quadratic model to miss (tests/differential binomial_019_1: BOBYQA
  stopped 1.3e-6 above, the one step left 2.7e-9 and theta 1.6e-3 off lme4's tight fit; the second step
  lands below it).  Of the curated fits none gains that much (VerbAgg: 5.6e-8, 7e-12 relative).
* **mirror restart** (glmer): a singular optimum whose mirror image (:func:`mirrored_theta`) lies
  downhill.  A fit where a random intercept's variance is zero but the slope's is not can sit on a
  ridge of equal deviance (the slope's column of T turns freely) at the point where the deviance rises
  into the interior, while from the mirror image it falls: lme4's tight BOBYQA stops there as we do,
  its default Nelder-Mead sometimes walks on to a correlation of -1 and a deviance lower by up to 0.64
  (tests/differential: binomial_016, binary_011).  The stage-2 run is Nelder-Mead's: from the mirror of
  binary_029_1's optimum BOBYQA stopped where it started, Nelder-Mead reached lme4's
  BOBYQA-at-rhoend-1e-12 optimum, 3.7e-5 lower.  Stage 1 gets it too: every stage-2 PIRLS starts from
  stage 1's linear predictor (lme4's ``lp0``) and stops at ``tolPwrss``, so where stage 1 ends shapes the
  stage-2 deviance: on binomial_016 stage 1 stopped at 1955.07 instead of lme4's 1954.43, and from that
  ``lp0`` the Laplace deviance at lme4's estimates is 1.1e-3 above lme4's (from lme4's ``lp0`` it equals
  lme4's to 2e-10).  Checked only at such points, so ordinary fits cost nothing.  In stage 2 its first
  steps are ``RESTART_STEP``'s, as the gradient restarts': from binary_026_1's mirror image Nelder-Mead
  with NLopt's default steps stopped where it started (543.546822, where lme4's tight fit stops too), with
  these it reached lme4's default optimum 1.1e-3 lower.
* **turn restart** (glmer stage 2): where a column's diagonal is on its bound but the column below it is
  (nearly) zero, the mirror image is the same point and shows no slope; the next column of the term can
  turn into it (:func:`turned_theta`, T T' unchanged), and from the turned factor, stepped into the
  interior with the sign for which the criterion falls, a fresh run.  tests/differential binary_029_1:
  lme4's default and tight fits stop on such a ridge (T_11 = 0, T_21 = 0.055, T_22 = 0.007), where the
  mirror restart applies; with OpenBLAS's Haswell kernels our fit stopped at T_21 = 7e-7, T_22 = 0.056 on
  the same ridge, where only the turn finds the correlation of -1 3.7e-5 below.
* **saddle restart** (glmer stage 2): the gradient vanishes where a whole term's T is zero (the deviance
  is a function of T T'), so the optimiser can stop there although the deviance falls along a direction
  of negative curvature (a Hessian eigenvalue below ``-SADDLE_CURVATURE``): a fresh run from the lowest
  of the points ``x +- s v`` (s in ``SADDLE_STEPS``, v that eigenvector), by the restart optimiser
  (Nelder-Mead): with OpenBLAS's Haswell kernels BOBYQA's run from binary_029_1's saddle stopped on the
  flat ridge that leads to the optimum, 1.7e-5 above it (T_22 = 0.039 where the optimum has 0), and the
  gradient check passed there; Nelder-Mead from the same probe ends at the optimum.  tests/differential
  binary_029_1: eigenvalue -0.07, lme4's default 4e-5 lower.  Among 195 randomized glmer fits only that
  one had an eigenvalue below -1e-3, so ordinary fits cost nothing.  The way out of a saddle can end on a
  bound that its mirror image improves: the mirror restart is tried again.

Mirror and saddle restarts are kept, each followed by its own gradient restarts and polish, only if they
lower the criterion by more than ``MIRROR_GAIN`` (relative).
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .diagnostics import GRADIENT_TOL, central_gradient, deriv12
from .optimize import BOUNDARY_TOL, OptimizerResult, free_coordinates, minimize, newton_polish

MAX_RESTARTS = 3  # fresh runs while the gradient check fails
RESTART_OPTIMIZER = "Nelder_Mead"  # glmer's: lme4's stage-2 optimiser, steadier than BOBYQA on the rough deviance
BOUNDARY_STEP = 1e-5  # lme4's boundary.tol: how close to a bound counts as on it (the edge restart)
FTOL_REL = 1e-12  # the optimiser stops when a step gains less than this, relative (see Criterion.ftol_abs)
RESTART_STEP = 1e-3  # glmer's gradient restarts start with steps of this fraction of each coordinate (see below)
SAME_OPTIMUM = 1e-6  # a restart that lowers the deviance by less has found the same optimum: no further restart
MIRROR_GAIN = 1e-7  # relative: what a restart from a mirror image or a saddle must lower the criterion by
SADDLE_CURVATURE = 1e-3  # a Hessian eigenvalue below minus this at the optimum: a saddle
SADDLE_STEPS = (0.01, 0.03, 0.1)  # the steps along its eigenvector probed for a lower start
POLISH_AGAIN = 1e-9  # relative: a passing fit's polish step that gains more is followed by another (see below)
TURN_STEPS = (1e-3, 1e-2, 1e-1)  # steps into the interior from a turned column, relative to its length


def _identity(x):
    return x


@dataclass(frozen=True)
class Criterion:
    """What a model minimises: ``fun(x)`` subject to ``x >= lower``.

    ``n_theta``: x starts with theta's elements (glmer's stage 2 then has beta); None: x is theta.
    ``to_search`` / ``from_search``: the coordinates the optimiser works in (lmer's standard theta,
    :meth:`mixedlite.core.terms.RandomEffectsTerm.standard_theta`), with the same bounds.
    ``ftol_abs``: lme4's absolute stopping tolerance; a run then stops when a step gains less than
    ``FTOL_REL`` relative or ``ftol_abs``, whichever is smaller (one evaluation at the start gives the
    criterion's size, and is the optimiser's first evaluation too).  Relative alone stops InstEval's
    criterion near 237722 1.4e-6 above its optimum, absolute alone stops in a flat valley of a criterion
    near 2000 (the clinic tutorial's random-slope model: 1.7e-6 above, the intercept variance 0.1% off).
    """

    fun: Callable
    lower: np.ndarray
    optimizer: str = "bobyqa"
    maxeval: int = 100_000
    n_theta: Optional[int] = None
    to_search: Callable = _identity
    from_search: Callable = _identity
    ftol_abs: float = 0.0


@dataclass(frozen=True)
class Policies:
    """Which of the module's policies apply (see the module docstring for what each is for).

    ``derivatives``: take lme4's finite-difference gradient and Hessian at the optimum (the checks, the
    Newton polish and the gradient restarts need them).  ``gradient_fails(x, g, H)``: the gradient check
    that refreshes the gradient in the polish; ``restart_fails(x, g, H)``, after the polish: the one
    that brings a restart (by default the same).  ``restart_optimizer``: the optimiser of the gradient,
    mirror and saddle restarts (None: the criterion's own).  ``same_optimum``: a restart that lowers the
    criterion by less ends the restarts.  ``rounding``: the relative rounding error of the criterion
    (:func:`mixedlite.core.optimize.newton_polish`).  ``restart_step``: the gradient and mirror restarts'
    first steps, as :func:`fit_theta`'s ``step_fraction`` (None: NLopt's).
    """

    restart_edge: bool = False
    derivatives: bool = False
    gradient_fails: Optional[Callable] = None
    restart_fails: Optional[Callable] = None
    restart_after_breakdown: bool = False
    restart_optimizer: Optional[str] = None
    same_optimum: Optional[float] = None
    rounding: float = 0.0
    restart_step: Optional[float] = None
    mirror: bool = False
    turn: bool = False
    saddle: bool = False


@dataclass(frozen=True)
class ThetaFit:
    """The optimum x and ``fun(x)``; the optimiser runs kept, in order; the gradient and Hessian of
    the checks (None without derivatives), the Hessian taken at ``hessian_at`` (the last optimiser's
    answer, before the Newton steps)."""

    x: np.ndarray
    fun: float
    runs: list
    gradient: Optional[np.ndarray] = None
    hessian: Optional[np.ndarray] = None
    hessian_at: Optional[np.ndarray] = None


def fit_theta(criterion, start, policies, step_fraction=None):
    """Minimise ``criterion`` from ``start`` with the restart ``policies``; a :class:`ThetaFit`.

    ``step_fraction``: first steps of this fraction of each search coordinate, at least a tenth of it
    (refits near a known optimum); by default NLopt's.
    """
    search = ThetaSearch(criterion, policies)
    first = search.run(start, criterion.optimizer, step_fraction)
    search.runs.append(first)
    x, fx = search.refine(first.x, first.fun)
    if policies.mirror:
        x, fx = search.leave_the_boundary(x, fx)
    if policies.saddle:
        x, fx, moved = search.leave_a_saddle(x, fx)
        if moved and policies.mirror:
            x, fx = search.leave_the_boundary(x, fx)
    return ThetaFit(x, fx, search.runs, search.gradient, search.hessian, search.hessian_at)


class ThetaSearch:
    """The state of one :func:`fit_theta`: the runs kept and the last derivatives."""

    def __init__(self, criterion, policies):
        self.criterion, self.policies = criterion, policies
        self.runs = []
        self.gradient = self.hessian = self.hessian_at = None

    def run(self, start, optimizer, step_fraction=None) -> OptimizerResult:
        """One optimiser run, with the edge restart where the policy applies (its evaluations added)."""
        result = self._minimize(start, optimizer, step_fraction)
        if self.policies.restart_edge and leaves_boundary_downhill(self.criterion.fun, result.x,
                                                                   self.criterion.lower):
            restart = self._minimize(result.x, optimizer, None)
            if restart.fun < result.fun:
                restart.evaluations += result.evaluations
                result = restart
        return result

    def _minimize(self, start, optimizer, step_fraction):
        c = self.criterion
        search_start = c.to_search(start)
        step = None if step_fraction is None else step_fraction * np.maximum(np.abs(search_start), 0.1)
        ftol_rel, sizing, start_value = FTOL_REL, 0, None
        if c.ftol_abs:
            start_value, sizing = c.fun(c.from_search(search_start)), 1
            size = abs(start_value)
            ftol_rel = min(FTOL_REL, c.ftol_abs / size) if 0 < size < np.inf else FTOL_REL

        def fun(s):
            if start_value is not None and np.array_equal(s, search_start):  # BOBYQA's first point: the sizing
                return start_value                                             # evaluation's (InstEval: 17 ms)
            return c.fun(c.from_search(s))
        result = minimize(fun, search_start, c.lower, optimizer=optimizer, maxeval=c.maxeval, initial_step=step,
                          ftol_rel=ftol_rel)
        result.x = c.from_search(result.x)
        result.evaluations += sizing
        return result

    def refine(self, x, fx):
        """Newton polish, and fresh runs while the gradient check fails (or a run broke down)."""
        c, p = self.criterion, self.policies
        f = c.fun
        restart_fails = p.restart_fails or p.gradient_fails
        previous = None
        for restart in range(MAX_RESTARTS + 1):
            failing = False
            if p.derivatives:
                gradient, hessian = deriv12(f, x, fx=fx)
                self.hessian_at = x
                failing = p.gradient_fails(x, gradient, hessian)
                x, fx, gradient, _ = newton_polish(
                    f, x, fx, gradient, hessian, c.lower, gradient_fun=lambda y: central_gradient(f, y),
                    rounding=p.rounding, again_gain=0.0 if failing else POLISH_AGAIN * abs(fx))
                failing = failing and restart_fails(x, gradient, hessian)
                self.gradient, self.hessian = gradient, hessian
            broke_down = p.restart_after_breakdown and self.runs[-1].failed
            if (not (failing or broke_down) or restart == MAX_RESTARTS
                    or p.same_optimum is not None and restart and not fx < previous - p.same_optimum):
                break
            retry = self.run(x, p.restart_optimizer or c.optimizer, p.restart_step)
            if not retry.fun < fx:
                break
            previous = fx
            self.runs.append(retry)
            x, fx = retry.x, retry.fun
        return x, fx

    def leave_the_boundary(self, x, fx):
        """The mirror restart: a fresh run from the mirror image of a singular optimum."""
        c, p = self.criterion, self.policies
        k = len(x) if c.n_theta is None else c.n_theta
        gradient = self.gradient
        if gradient is None:  # no derivatives taken: the gradient, where a column of T could turn
            if mirrored_theta(x[:k], np.full(k, np.inf), c.lower[:k]) is None:
                return x, fx
            gradient = central_gradient(c.fun, x)
        mirror = mirrored_theta(x[:k], gradient[:k], c.lower[:k])
        if mirror is None and p.turn:
            mirror = self._lowest_turned_start(x, fx, k)
        if mirror is None:
            return x, fx
        retry = self.run(np.r_[mirror, x[k:]], p.restart_optimizer or c.optimizer, p.restart_step)
        return self.refine(retry.x, retry.fun) if self._keep(retry, fx) else (x, fx)

    def _lowest_turned_start(self, x, fx, k):
        """The turn restart's start: the lowest of the turned thetas (:func:`turned_theta`) with the
        turned column's sign either way and its diagonal stepped into the interior by ``TURN_STEPS`` of
        its length, if below ``fx``; else None (6 evaluations a column, only where a column can turn)."""
        best, best_value = None, fx
        for column, theta in turned_theta(x[:k], self.criterion.lower[:k]):
            length = np.linalg.norm(theta[column])
            for sign in (1.0, -1.0):
                for step in TURN_STEPS:
                    start = theta.copy()
                    start[column.start + 1:column.stop] *= sign
                    start[column.start] = step * length
                    value = self.criterion.fun(np.r_[start, x[k:]])
                    if value < best_value:
                        best, best_value = start, value
        return best

    def leave_a_saddle(self, x, fx):
        """The saddle restart; returns ``(x, fx, moved)``."""
        c = self.criterion
        if self.hessian is None:
            return x, fx, False
        free = free_coordinates(x, self.gradient, c.lower)
        hessian = self.hessian[np.ix_(free, free)]
        if not free.any() or not np.all(np.isfinite(hessian)):
            return x, fx, False
        eigenvalues, vectors = np.linalg.eigh(hessian)
        if not eigenvalues[0] < -SADDLE_CURVATURE:
            return x, fx, False
        direction = np.zeros(len(x))
        direction[free] = vectors[:, 0]
        probes = [np.maximum(x + step * direction, c.lower) for size in SADDLE_STEPS for step in (size, -size)]
        values = [c.fun(probe) for probe in probes]
        if not min(values) < fx:
            return x, fx, False
        retry = self.run(probes[int(np.argmin(values))], self.policies.restart_optimizer or c.optimizer)
        if not self._keep(retry, fx):
            return x, fx, False
        return (*self.refine(retry.x, retry.fun), True)

    def _keep(self, retry, fx):
        """Does a mirror or saddle restart lower ``fx`` by more than ``MIRROR_GAIN`` (relative)?  Then it
        is kept, and recorded in ``runs``."""
        if not retry.fun < fx - MIRROR_GAIN * max(1.0, abs(fx)):
            return False
        self.runs.append(retry)
        return True


def leaves_boundary_downhill(fun, theta, lower, step=BOUNDARY_STEP):
    """lme4's ``restart_edge`` test: at a theta on its lower bound, does a small step into the
    interior lower the criterion?  Then the optimiser stopped at a false boundary and restarts."""
    on_boundary = np.flatnonzero((lower == 0) & (theta < step))
    if not len(on_boundary):
        return False
    at_edge = fun(theta)
    for i in on_boundary:
        inside = theta.copy()
        inside[i] = lower[i] + step
        if fun(inside) < at_edge:
            return True
    return False


def _column_slices(lower):
    """The slices of theta that hold the columns of T (lme4's order: column by column, each starting
    at its diagonal element, the one element bounded below by 0)."""
    starts = np.flatnonzero(np.asarray(lower) == 0)
    return [slice(a, b) for a, b in zip(starts, np.r_[starts[1:], len(lower)])]


def turned_theta(theta, lower):
    """``(column, theta)`` pairs, column the slice of theta that holds column j of T: for each column
    on its bound (``T_jj = 0``) followed by a non-zero column in its term, theta with the two columns
    turned (``T -> T Q``, Q a rotation of the two) so that ``T_{j+1,j+1} = 0``: T T', and so the
    criterion, is unchanged, T stays lower triangular, and column j holds all the weight of the two.

    At ``T = [[0, 0], [c, d]]`` the intercept's variance is zero and the slope's column can turn
    freely (``c^2 + d^2 = r^2`` fixed).  With c near 0 the criterion is even in ``T_11``, so
    :func:`mirrored_theta` sees no slope into the interior to mirror; turned to ``[[0, 0], [+-r, 0]]``
    the correlation is +-1 as soon as ``T_11 > 0``, and for one sign the criterion falls.
    """
    theta = np.asarray(theta, dtype=float)
    columns = _column_slices(lower)
    out = []
    for this, following in zip(columns, columns[1:]):
        same_term = (this.stop - this.start) == (following.stop - following.start) + 1 > 1
        if not same_term or theta[this.start] > BOUNDARY_TOL:
            continue
        c, d = theta[this.start + 1], theta[following.start]
        if abs(d) <= BOUNDARY_TOL:  # column j holds the weight already (the mirror image's case)
            continue
        r = np.hypot(c, d)
        cos, sin = c / r, d / r  # the rotation that zeroes T_{j+1,j+1}
        below, next_column = theta[this.start + 1:this.stop], theta[following]  # both rows j+1, j+2, ...
        turned = theta.copy()
        turned[this.start + 1:this.stop] = cos * below + sin * next_column
        turned[following] = -sin * below + cos * next_column
        out.append((this, turned))
    return out


def mirrored_theta(theta, gradient, lower):
    """theta with each column of T whose diagonal sits on its bound (0), with the deviance rising
    into the interior (``g_jj > GRADIENT_TOL``), negated below the diagonal; None if there is none.

    With ``T_jj = 0``, negating column j (``T -> T Q``, ``Q = diag(1, .., -1, .., 1)`` orthogonal)
    leaves ``T T'``, and so the deviance, unchanged (u is spherical), and
    ``D(T Q + h e_j e_j') = D((T - h e_j e_j') Q) = D(T - h e_j e_j')``: at the mirror image the
    slope into the interior is ``-g_jj``.  So a point held at the bound by ``g_jj > 0`` is not an
    optimum when the column below the diagonal is non-zero: the deviance falls from its mirror.
    theta fills T column by column (lme4's order), each column starting at its diagonal element,
    the one element with lower bound 0, so the columns are read off ``lower``.
    """
    theta = np.asarray(theta, dtype=float)
    mirror = theta.copy()
    for column in _column_slices(lower):
        below = slice(column.start + 1, column.stop)
        if (theta[column.start] <= BOUNDARY_TOL and gradient[column.start] > GRADIENT_TOL
                and np.any(np.abs(theta[below]) > BOUNDARY_TOL)):
            mirror[below] = -theta[below]
    return None if np.array_equal(mirror, theta) else mirror
