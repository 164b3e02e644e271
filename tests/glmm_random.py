"""Randomized GLMM datasets on which glmer's optimum is compared with lme4's (issue 10, item 6).

Two designs where glmer used to stop short of lme4's optimum (about 1 fit in 12):

* ``binomial``: a 0/1 response with a correlated random intercept and slope, ``y ~ x + (x | g)``;
* ``poisson``: overdispersed counts with a group and an observation-level intercept,
  ``y ~ x + (1 | g) + (1 | obs)``.

Sizes, effects and variance components are drawn per dataset (``np.random.default_rng(seed)``).
``python tests/glmm_random.py DIR`` writes the datasets as CSVs (and ``specs.csv``) for
``tests/fixtures/glmm_random/fit_lme4.R``, which fits them with lme4; the test regenerates
the same data in Python and checks ``sum_y`` against the fixture to catch a changed stream.
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261129
N_PER_FAMILY = 30
FORMULAS = {"binomial": "y ~ x + (x | g)", "poisson": "y ~ x + (1 | g) + (1 | obs)"}


def binomial_dataset(rng):
    """0/1 responses: 8-30 groups of 4-25 observations, correlated random intercepts and slopes."""
    groups = int(rng.integers(8, 31))
    sizes = rng.integers(4, 26, groups)
    g = np.repeat(np.arange(groups), sizes)
    x = rng.normal(0, 1, len(g))
    sd = rng.uniform([0.2, 0.05], [1.5, 1.0])
    rho = rng.uniform(-0.8, 0.8)
    cov = np.array([[sd[0]**2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1]**2]])
    b = rng.multivariate_normal(np.zeros(2), cov, groups)
    beta = rng.uniform([-1.5, -1.0], [1.5, 1.0])
    eta = beta[0] + beta[1] * x + b[g, 0] + b[g, 1] * x
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})


def poisson_dataset(rng):
    """Counts: 6-25 groups of 3-15 observations, a group intercept and an observation-level one."""
    groups = int(rng.integers(6, 26))
    sizes = rng.integers(3, 16, groups)
    g = np.repeat(np.arange(groups), sizes)
    x = rng.normal(0, 1, len(g))
    sd_group, sd_obs = rng.uniform(0.1, 1.2), rng.uniform(0.1, 1.0)
    beta = rng.uniform([-0.5, -0.6], [2.0, 0.6])
    eta = beta[0] + beta[1] * x + rng.normal(0, sd_group, groups)[g] + rng.normal(0, sd_obs, len(g))
    y = rng.poisson(np.exp(eta))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g],
                         "obs": [f"o{i:04d}" for i in range(len(g))]})


def datasets():
    """The datasets: a list of (id, family, formula, DataFrame), the same on every call."""
    rng = np.random.default_rng(SEED)
    out = []
    for i in range(N_PER_FAMILY):
        for family, make in (("binomial", binomial_dataset), ("poisson", poisson_dataset)):
            data = make(rng)
            for column in ("g", "obs"):
                if column in data:
                    data[column] = pd.Categorical(data[column])
            out.append((f"{family}_{i:02d}", family, FORMULAS[family], data))
    return out


def write_csvs(directory):
    """Write each dataset as ``ID.csv`` and the list of models as ``specs.csv`` (for the R script)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    specs = []
    for name, family, formula, data in datasets():
        data.to_csv(directory / f"{name}.csv", index=False)
        specs.append({"id": name, "family": family, "formula": formula, "sum_y": int(data["y"].sum())})
    pd.DataFrame(specs).to_csv(directory / "specs.csv", index=False)


if __name__ == "__main__":
    write_csvs(sys.argv[1])
