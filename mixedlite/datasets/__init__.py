"""Datasets bundled with mixedlite: lme4's classic data and the clinic anxiety data.

``load_dataset(name)`` returns a pandas DataFrame whose factor columns are
categoricals in lme4's level order (the first level is the reference level of
treatment contrasts, as in R).  See ``SOURCES.md`` for provenance and licence.
"""
import json
from importlib import resources

import pandas as pd

_FOLDER = resources.files(__name__)


def list_datasets():
    """Names of the bundled datasets, sorted."""
    names = {p.name.split(".")[0] for p in _FOLDER.iterdir() if p.name.endswith(".columns.json")}
    return sorted(names, key=str.lower)


def load_dataset(name):
    """Load a bundled dataset as a DataFrame with R's column types restored.

    Factor columns become ``pd.Categorical`` with lme4's level order
    (``ordered=True`` for R's ordered factors); integer columns stay integers.
    """
    lookup = {n.lower(): n for n in list_datasets()}
    if name.lower() not in lookup:
        raise ValueError(f"unknown dataset {name!r}; the bundled datasets are: {', '.join(list_datasets())}")
    name = lookup[name.lower()]
    columns = json.loads((_FOLDER / f"{name}.columns.json").read_text())
    csv = _FOLDER / f"{name}.csv"
    if not csv.is_file():
        csv = _FOLDER / f"{name}.csv.gz"
    factor_columns = [c for c, meta in columns.items() if meta["type"] in ("factor", "ordered")]
    with resources.as_file(csv) as path:
        data = pd.read_csv(path, dtype={c: str for c in factor_columns})
    for column, meta in columns.items():
        if column in factor_columns:
            dtype = pd.CategoricalDtype(meta["levels"], ordered=meta["type"] == "ordered")
            data[column] = data[column].astype(dtype)
        elif meta["type"] == "integer":
            data[column] = data[column].astype("int64")
    return data
