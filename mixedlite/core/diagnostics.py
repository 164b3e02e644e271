"""Is the fit trustworthy?  Convergence checks, singular fits, the ICC and the design effect.

The checks are lme4's (``?convergence``, ``checkConv``):

* singular fit: a variance parameter on its boundary, ``theta_i < 1e-4`` for a diagonal
  element of T (``isSingular``): a standard deviation estimated as zero or a correlation of +-1;
* gradient: the finite-difference gradient g and Hessian H of the criterion at the optimum;
  the scaled gradient ``H^-1/2 g`` must satisfy ``max(min(|scaled|, |g|)) < 0.002``;
* Hessian: no negative eigenvalues, not numerically singular, and neither a very large
  eigenvalue (``max * 1e-6 > 1``) nor a large eigenvalue ratio (``min / max < 1e-6``);
* predictor scales: continuous columns of X with standard deviations more than 1000-fold
  apart (or from 1) make the optimisation ill-conditioned: rescale them.

Problems are raised as :class:`ConvergenceWarning` (singular fits as its subclass
:class:`SingularFitWarning`) and kept, as text, in ``model.convergence``.
"""
import sys
import warnings

import numpy as np

GRADIENT_TOL = 2e-3
HESSIAN_TOL = 1e-6
SINGULAR_TOL = 1e-4
DERIVATIVE_STEP = 1e-4
MAX_NOBS_FOR_DERIVATIVES = 10_000  # lme4 skips the derivative checks for larger data


SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"
GRADIENT_MESSAGE = "Model failed to converge with max|grad|"
SCALED_GRADIENT_MESSAGE = "unable to evaluate scaled gradient"  # the Hessian is not positive definite


class ConvergenceWarning(UserWarning):
    """The optimiser's answer may not be a trustworthy maximum of the likelihood."""


class SingularFitWarning(ConvergenceWarning):
    """A variance component was estimated on its boundary (zero variance or |correlation| = 1)."""


def is_singular(theta, lower, tol=SINGULAR_TOL):
    """lme4's ``isSingular``: a bounded (diagonal) theta element below ``tol``."""
    theta, lower = np.asarray(theta), np.asarray(lower)
    return bool(np.any(theta[lower == 0] < tol))


def deriv12(fun, x, delta=DERIVATIVE_STEP, fx=None):
    """Central-difference gradient and Hessian of ``fun`` at ``x``, exactly as lme4's ``deriv12``.

    ``g_j = (f(x + d e_j) - f(x - d e_j)) / 2d``; the Hessian's diagonal from the same three
    points, its off-diagonal from the four corners ``x +- d e_i +- d e_j``.
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    fx = fun(x) if fx is None else fx
    g, H = np.zeros(k), np.zeros((k, k))

    def at(*changes):
        v = x.copy()
        for i, d in changes:
            v[i] += d
        return fun(v)

    for j in range(k):
        f_add, f_sub = at((j, delta)), at((j, -delta))
        H[j, j] = (f_add - 2 * fx + f_sub) / delta**2
        g[j] = (f_add - f_sub) / (2 * delta)
        for i in range(j):
            H[i, j] = H[j, i] = (at((i, delta), (j, delta)) - at((i, delta), (j, -delta))
                                 - at((i, -delta), (j, delta)) + at((i, -delta), (j, -delta))) / (4 * delta**2)
    return g, H


def central_gradient(fun, x, delta=DERIVATIVE_STEP):
    """The central-difference gradient alone (``2k`` evaluations), as in :func:`deriv12`."""
    x = np.asarray(x, dtype=float)
    g = np.zeros(len(x))
    for j in range(len(x)):
        step = np.zeros(len(x))
        step[j] = delta
        g[j] = (fun(x + step) - fun(x - step)) / (2 * delta)
    return g


def check_gradient(gradient, hessian, tol=GRADIENT_TOL):
    """lme4's gradient check; returns a message or None."""
    if not np.all(np.isfinite(gradient)):
        return "Model failed to converge: non-finite gradient"
    try:
        scaled = np.linalg.solve(np.linalg.cholesky(hessian).T, gradient)
    except np.linalg.LinAlgError:
        return SCALED_GRADIENT_MESSAGE
    smallest = np.minimum(np.abs(scaled), np.abs(gradient))
    if smallest.max() > tol:
        return (f"{GRADIENT_MESSAGE} = {smallest.max():.6g} "
                f"(tol = {tol:g}, component {int(smallest.argmax()) + 1})")
    return None


def check_hessian(hessian, tol=HESSIAN_TOL, kind=""):
    """lme4's Hessian check; returns a list of messages."""
    label = f" {kind}" if kind else ""
    eigenvalues = np.linalg.eigvalsh(hessian)
    if not eigenvalues.size:  # no parameters (a model without fixed effects): nothing to check
        return []
    negative = int(np.sum(eigenvalues < -tol))
    if negative:
        return [f"Model failed to converge: degenerate{label} Hessian with {negative} negative eigenvalues"]
    if np.any(np.abs(eigenvalues) < tol):
        return [f"{kind.capitalize() + ' ' if kind else ''}Hessian is numerically singular: "
                "parameters are not uniquely determined"]
    messages = []
    if eigenvalues.max() * tol > 1:
        messages.append("Model is nearly unidentifiable: very large eigenvalue - Rescale variables?")
    if eigenvalues.min() / eigenvalues.max() < tol:
        messages.append("Model is nearly unidentifiable: large eigenvalue ratio - Rescale variables?")
    return messages


def check_predictor_scales(X):
    """lme4's ``checkScaleX``: warn when continuous predictors have wildly different scales."""
    X = np.asarray(X, dtype=float)
    continuous = [j for j in range(X.shape[1]) if not np.all(np.isin(X[:, j], (0.0, 1.0)))]
    if not continuous:
        return None
    sd = X[:, continuous].std(axis=0, ddof=1)
    sd = sd[sd > 0]
    log_sd = np.log(sd)
    spread = np.abs(log_sd[:, None] - log_sd[None, :])
    if np.any(np.abs(log_sd) > np.log(1e3)) or np.any(spread > np.log(1e3)):
        return "Some predictor variables are on very different scales: consider rescaling"
    return None


def optimizer_message(result, maxeval, design=None, recovered=False):
    """lme4's warning when the optimiser ran out of evaluations or broke down (None if neither).

    A breakdown (NLopt's roundoff limit) names the remedy: the badly scaled predictors of
    ``design`` (see :func:`badly_scaled_predictors`), to be centred and scaled.  ``recovered``:
    restarts from the breakdown's best point converged.
    """
    if result.converged:
        return None
    if result.failed:
        names = badly_scaled_predictors(design) if design is not None else []
        remedy = (f"rescale {', '.join(names)} (centre and scale: (x - mean(x)) / sd(x)) and refit"
                  if names else "rescale the predictors (centre and scale them) or try another optimizer")
        outcome = ("Restarts from its best point converged, but the fit is fragile"
                   if recovered else "The best point found is returned")
        return f"convergence code -4 from nloptwrap: {result.message} {outcome}; {remedy}"
    return (f"convergence code 5 from nloptwrap: {result.message} "
            f"Increase maxeval (now {maxeval}) or try another optimizer")


def badly_scaled_predictors(design, limit=1e3):
    """Continuous predictors (fixed or random-effect columns) with a mean or standard deviation
    beyond ``limit`` (or an SD below ``1 / limit``): the usual cause of a roundoff breakdown."""
    columns = dict(zip(design.fixed_names, np.asarray(design.X, dtype=float).T))
    for term in design.terms:
        columns.update(zip(term.names, np.asarray(term.rows, dtype=float).T))
    names = []
    for name, values in columns.items():
        if name == "(Intercept)" or np.all(np.isin(values, (0.0, 1.0))):
            continue
        sd, centre = values.std(), abs(values.mean())
        if max(sd, centre) > limit or 0 < sd < 1 / limit:
            names.append(name)
    return names


def convergence_messages(objective, theta, lower, nobs, derivatives=None):
    """All of lme4's post-fit checks of a linear mixed model; a list of messages.

    ``derivatives``: the finite-difference (gradient, Hessian) at theta if already computed.
    """
    messages = []
    singular = is_singular(theta, lower)
    if singular:
        messages.append(SINGULAR_MESSAGE)
    if nobs <= MAX_NOBS_FOR_DERIVATIVES and not singular:
        gradient, hessian = derivatives if derivatives is not None else deriv12(objective, theta)
        message = check_gradient(gradient, hessian)
        if message:
            messages.append(message)
        messages += check_hessian(hessian)
    return messages


def report(messages):
    """Raise each convergence message as a warning, a singular fit as :class:`SingularFitWarning`.

    The warning points at the caller's line (the first frame outside mixedlite).
    """
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("mixedlite"):
        level, frame = level + 1, frame.f_back
    for message in messages:
        category = SingularFitWarning if message == SINGULAR_MESSAGE else ConvergenceWarning
        warnings.warn(message, category, stacklevel=level)


def design_effect(cluster_size, icc):
    """Kish's design effect ``1 + (K - 1) ICC``: the variance inflation of a cluster mean."""
    return 1 + (np.asarray(cluster_size) - 1) * np.asarray(icc)


def effective_sample_size(n_total, cluster_size, icc):
    """``n / (1 + (K - 1) ICC)``: how many independent observations the clustered data are worth."""
    return np.asarray(n_total) / design_effect(cluster_size, icc)


def icc(model):
    """The adjusted intraclass correlation: random-effect variance over total variance.

    ``ICC = sigma2_RE / (sigma2_RE + sigma2_residual)`` where ``sigma2_RE`` is the variance the
    random effects add to one observation, averaged over the data (for a random-intercept
    model, simply the intercept variance; Nakagawa, Johnson and Schielzeth 2017, as
    ``performance::icc``).  The residual variance is sigma^2 for linear models and, on the
    latent scale, pi^2 / 3 for a logistic GLMM.
    """
    re_variance = 0.0
    for term, cov in zip(model.design.terms, model._term_covariances()):
        re_variance += np.mean(np.einsum("ij,jk,ik->i", term.rows, cov, term.rows))
    return re_variance / (re_variance + _residual_variance(model))


def _residual_variance(model):
    if model.is_linear:
        return model.sigma**2
    if model.family == "binomial" and model.link == "logit":
        return np.pi**2 / 3
    raise ValueError(f"the ICC is defined here for linear models and logistic GLMMs, not for family {model.family!r}; "
                     "for counts, report the random-effect variance on the log scale instead")
