"""R's stateful transforms (``scale``, ``poly``) and contrast matrices, as ``model.matrix`` uses them.

A *stateful* transform learns parameters from the data it is fitted to, and ``predict(newdata)``
must reuse them (R's ``makepredictcall``): ``scale(x)`` keeps the training mean and standard
deviation, ``poly(x, k)`` the three-term recurrence coefficients ``alpha`` and ``norm2``.
Each function takes ``state`` (a dict kept by the model's design) and ``key`` (the call's text):
the first call stores its parameters there, later calls (on new data) read them.

Contrasts code a factor with k levels by a k x (k - 1) matrix (R's ``contr.*``), whose column
names R appends to the factor's name: ``recipeB`` (treatment), ``recipe1`` (sum, Helmert),
``temperature.L`` (polynomial), ``recipeA`` (SAS: the last level is the reference).
"""
import numpy as np


def scale(x, center=True, scale=True, *, state, key):
    """R's ``scale(x)``: ``(x - mean) / sd`` with the sample (n - 1) standard deviation of the fit data."""
    x = np.asarray(x, dtype=float)
    if key not in state:
        mean = x.mean() if center else 0.0
        sd = np.sqrt(np.sum((x - mean) ** 2) / (len(x) - 1)) if scale else 1.0
        state[key] = (mean, sd)
    mean, sd = state[key]
    return (x - mean) / sd


def poly(x, degree=1, raw=False, *, state, key):
    """R's ``poly(x, degree)``: orthonormal polynomials of x (columns 1..degree), or raw powers.

    Fitted as R does: the centred powers ``(x - mean)^j`` are orthogonalised (QR), giving columns Z_j
    with squared norms ``norm2`` and the recurrence ``Z_{j+1} = (x - alpha_j) Z_j - norm2_j / norm2_{j-1} Z_{j-1}``;
    new data are evaluated with that recurrence and the training ``alpha`` and ``norm2``.
    """
    x = np.asarray(x, dtype=float)
    degree = int(degree)
    if raw:
        return np.column_stack([x**j for j in range(1, degree + 1)])
    if key not in state:
        if degree >= len(np.unique(x)):
            raise ValueError(f"{key}: 'degree' must be less than the number of unique points ({len(np.unique(x))})")
        centre = x.mean()
        Q, R = np.linalg.qr(np.vander(x - centre, degree + 1, increasing=True))
        Z = Q * np.diag(R)
        norm2 = np.sum(Z**2, axis=0)
        alpha = np.sum((x - centre)[:, None] * Z**2, axis=0) / norm2 + centre
        state[key] = (alpha[:degree], np.r_[1.0, norm2])
    alpha, norm2 = state[key]
    Z = np.ones((len(x), degree + 1))
    Z[:, 1] = x - alpha[0]
    for i in range(1, degree):
        Z[:, i + 1] = (x - alpha[i]) * Z[:, i] - norm2[i + 1] / norm2[i] * Z[:, i - 1]
    return Z[:, 1:] / np.sqrt(norm2[2:])


STATEFUL = {"scale": scale, "poly": poly}


# ---------------------------------------------------------------- contrasts


def polynomial_contrasts(k):
    """R's ``contr.poly(k)``: orthonormal polynomial contrasts for an ordered factor (k x (k-1))."""
    scores = np.arange(k) - (k - 1) / 2
    Q, R = np.linalg.qr(np.vander(scores, k, increasing=True))
    return (Q * np.sign(np.diag(R)))[:, 1:]


def _poly_names(k):
    return [[".L", ".Q", ".C"][j] if j < 3 else f"^{j + 1}" for j in range(k - 1)]


def _helmert(k):
    """Column j compares level j + 1 with the mean of the levels before it: -1, ..., -1, j, 0, ..."""
    H = np.zeros((k, k - 1))
    for j in range(k - 1):
        H[: j + 1, j] = -1
        H[j + 1, j] = j + 1
    return H


def _sum(k):
    """Each of the first k - 1 levels against the mean: identity rows, the last level -1."""
    return np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])


def contrast_matrix(kind, levels):
    """R's ``contr.<kind>(levels)``: the k x (k - 1) coding matrix and the suffixes of its columns."""
    k, levels = len(levels), [str(level) for level in levels]
    numbered = [str(j + 1) for j in range(k - 1)]
    if kind == "treatment":
        return np.eye(k)[:, 1:], levels[1:]
    if kind == "SAS":
        return np.eye(k)[:, :-1], levels[:-1]
    if kind == "sum":
        return _sum(k), numbered
    if kind == "helmert":
        return _helmert(k), numbered
    if kind == "poly":
        return polynomial_contrasts(k), _poly_names(k)
    raise ValueError(f"unknown contrast {kind!r}")


CONTRASTS = ("treatment", "sum", "helmert", "poly", "SAS")


def contrast_kind(name, variable):
    """A contrast name as given (``"sum"``, ``"contr.sum"``, ``"SAS"``, ...) to one of :data:`CONTRASTS`."""
    kind = str(name).removeprefix("contr.")
    for known in CONTRASTS:
        if kind.lower() == known.lower():
            return known
    raise ValueError(f"unknown contrast {name!r} for {variable!r}: use one of "
                     f"{', '.join(repr(c) for c in CONTRASTS)} (R's contr.treatment, contr.sum, contr.helmert, "
                     "contr.poly, contr.SAS)")
