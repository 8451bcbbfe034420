"""A user cache of dataset arrays, so that a bundled dataset loads without importing the
library it comes from (scikit-learn and SciPy take about a second to import).

Where: ``$OPTBENCH_CACHE``, else ``$XDG_CACHE_HOME/optbench``, else ``~/.cache/optbench``;
one ``datasets/<name>.npz`` per dataset. Each file holds the arrays and a key: what they
were built from (for the bundled sets: the dataset, the scikit-learn version and the
split rule) and a SHA-256 digest of the arrays themselves. A file whose key differs from
the one asked for (another scikit-learn, another split) or whose arrays do not match
their digest (a corrupt or truncated file) is never used: the arrays are built again and
the file replaced. Files are written whole to a temporary name in the same folder, then
renamed over the old one, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

_KEY = "__key__"  # the member of the .npz that holds the key, JSON text


def cache_dir() -> Path:
    """``$OPTBENCH_CACHE``, else ``$XDG_CACHE_HOME/optbench``, else ``~/.cache/optbench``."""
    if os.environ.get("OPTBENCH_CACHE"):
        return Path(os.environ["OPTBENCH_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "optbench"
    return Path.home() / ".cache" / "optbench"


def digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def read(path: Path, key: Mapping[str, object]) -> dict[str, np.ndarray] | None:
    """The arrays of ``path`` when it holds exactly ``key`` and intact arrays, else None."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            stored = json.loads(str(npz[_KEY]))
            arrays = {name: npz[name] for name in npz.files if name != _KEY}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    if not isinstance(stored, dict) or stored.get("digest") != digest(arrays):
        return None
    if {k: v for k, v in stored.items() if k != "digest"} != dict(key):
        return None
    return arrays


def write(path: Path, key: Mapping[str, object], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` and ``key`` (plus their digest) to ``path`` atomically.

    ``OSError`` when the folder cannot be made or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**key, "digest": digest(arrays)}, sort_keys=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays, **{_KEY: np.array(text)})
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache of public data need not be
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(
    name: str, key: Mapping[str, object], build: Callable[[], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays of dataset ``name`` for ``key``: from the cache when it holds them,
    else ``build()`` them and store them for the next time.

    ``key`` must be JSON-serializable and name everything the arrays depend on. A cache
    that cannot be written (a read-only home) costs speed, not correctness: the built
    arrays are returned and a ``RuntimeWarning`` says why nothing was stored.
    """
    path = cache_dir() / "datasets" / f"{name}.npz"
    arrays = read(path, key)
    if arrays is not None:
        return arrays
    arrays = {k: np.asarray(v) for k, v in build().items()}
    try:
        write(path, key, arrays)
    except OSError as error:
        warnings.warn(
            f"cannot cache dataset {name!r} in {path.parent}: {error.strerror or error}",
            RuntimeWarning,
            stacklevel=2,
        )
    return arrays
