"""scikit-learn's bundled datasets (digits, iris, wine): real data that ships offline.

Splits, fixed for every seed and plan:

- iris and wine [DSA]: the paper's hold-out, ``train_test_split(test_size=0.2,
  random_state=0)`` without stratification (``optbench.tasks.data.holdout_indices``):
  120/30 and 142/36 rows, as [DSA]'s Table 3, with the class shares its tables imply.
- digits (optbench's own quick task): an 80/20 split stratified by class (1,437/360),
  ``train_test_split(..., stratify=y, random_state=0)``.

Features are standardized with the training rows' statistics (a reading: [DSA] does not
say how it scaled them; raw wine features such as proline, in the hundreds, would
saturate the MLP's first sigmoid layer).

The split arrays are cached (``optbench.tasks.datasets.cache``) under a key naming the
scikit-learn version and the split rule, so that after the first load neither
scikit-learn nor SciPy is imported; another scikit-learn version builds them again.
"""

from __future__ import annotations

from importlib import metadata

import numpy as np
import torch

from optbench.errors import DataMissing
from optbench.tasks.data import Split, holdout_indices, standardize
from optbench.tasks.datasets import cache

# Change a rule's text whenever the split it names changes: cached arrays are keyed by it.
HOLDOUT = "holdout test_size=0.2 random_state=0"
STRATIFIED = "stratified test_size=0.2 random_state=0"
SPLITS = {"digits": STRATIFIED, "iris": HOLDOUT, "wine": HOLDOUT}


def _sklearn_version() -> str:
    try:
        return metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        raise DataMissing(
            "the digits, iris and wine datasets ship with scikit-learn, which is not "
            "installed: pip install scikit-learn"
        ) from None


def _build(name: str) -> dict[str, np.ndarray]:
    """The train/validation arrays of ``name`` from scikit-learn (imported here only)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    if SPLITS[name] == STRATIFIED:
        from sklearn.model_selection import train_test_split

        x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    else:
        train, test = holdout_indices(len(y), 0.2, seed=0)
        x_tr, x_va, y_tr, y_va = x[train], x[test], y[train], y[test]
    return {"x_train": x_tr, "y_train": y_tr, "x_val": x_va, "y_val": y_va}


def load_bundled(name: str) -> Split:
    """``name`` (digits, iris or wine) as a standardized ``Split``, from the cache when
    it holds this scikit-learn version's arrays."""
    key = {"dataset": name, "scikit-learn": _sklearn_version(), "split": SPLITS[name]}
    arrays = cache.cached(name, key, lambda: _build(name))
    y = np.concatenate([arrays["y_train"], arrays["y_val"]])
    split = Split(
        torch.from_numpy(arrays["x_train"]),
        torch.from_numpy(arrays["y_train"]),
        torch.from_numpy(arrays["x_val"]),
        torch.from_numpy(arrays["y_val"]),
        num_classes=int(y.max()) + 1,
    )
    return standardize(split)


def load_digits(data_dir: object = None) -> Split:
    """The 8x8 digits (1,797 images, 64 features, 10 classes): 1,437/360, stratified."""
    return load_bundled("digits")


def load_iris(data_dir: object = None) -> Split:
    """Fisher's iris (150 flowers, 4 features, 3 classes) [DSA]: 120/30 hold-out."""
    return load_bundled("iris")


def load_wine(data_dir: object = None) -> Split:
    """The UCI wine recognition data (178 wines, 13 features, 3 classes) [DSA]: 142/36
    hold-out."""
    return load_bundled("wine")
