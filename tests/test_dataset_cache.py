"""The dataset cache: bundled datasets load without importing scikit-learn once cached,
and a cache that does not match (another scikit-learn, a corrupt file) is rebuilt."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from optbench.tasks.datasets import cache, sklearn_bundled


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("OPTBENCH_CACHE", str(folder))
    return folder


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """The datasets built from scikit-learn (not read from the cache), in order."""
    built: list[str] = []
    real = sklearn_bundled._build

    def counting(name):
        built.append(name)
        return real(name)

    monkeypatch.setattr(sklearn_bundled, "_build", counting)
    return built


def test_cache_folder_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OPTBENCH_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_dir() == tmp_path / ".cache" / "optbench"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "optbench"
    monkeypatch.setenv("OPTBENCH_CACHE", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"


def test_the_second_load_reads_the_cache_and_gives_the_same_split(cache_dir, builds):
    first = sklearn_bundled.load_wine()
    assert builds == ["wine"]
    assert [p.name for p in (cache_dir / "datasets").iterdir()] == ["wine.npz"]  # no temp file
    second = sklearn_bundled.load_wine()
    assert builds == ["wine"]
    for field in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(first, field), getattr(second, field))
    assert second.num_classes == 3 and second.y_train.dtype == torch.int64


def test_another_scikit_learn_version_rebuilds(cache_dir, builds, monkeypatch):
    sklearn_bundled.load_iris()
    monkeypatch.setattr(sklearn_bundled, "_sklearn_version", lambda: "0.1.dev0")
    sklearn_bundled.load_iris()
    sklearn_bundled.load_iris()
    assert builds == ["iris", "iris"]  # rebuilt once, then cached under the new key


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # truncated
        lambda raw: b"",  # empty
        lambda raw: b"not a zip file at all",
    ],
    ids=["truncated", "empty", "foreign"],
)
def test_a_corrupt_cache_file_is_rebuilt_not_used(cache_dir, builds, damage):
    expected = sklearn_bundled.load_iris()
    path = cache_dir / "datasets" / "iris.npz"
    path.write_bytes(damage(path.read_bytes()))
    again = sklearn_bundled.load_iris()
    assert builds == ["iris", "iris"]
    assert torch.equal(again.x_val, expected.x_val)
    assert cache.read(path, _key("iris")) is not None  # rewritten whole


def _key(name: str) -> dict:
    return {
        "dataset": name,
        "scikit-learn": sklearn_bundled._sklearn_version(),
        "split": sklearn_bundled.SPLITS[name],
    }


def test_changed_array_bytes_fail_the_digest(tmp_path):
    path = tmp_path / "d.npz"
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.arange(3)}
    cache.write(path, {"k": 1}, arrays)
    assert cache.read(path, {"k": 1})["x"].tolist() == arrays["x"].tolist()
    assert cache.read(path, {"k": 2}) is None
    # Same key, same shapes, other values: only the digest tells.
    np.savez(path, x=arrays["x"] + 1, y=arrays["y"], __key__=np.load(path)["__key__"])
    assert cache.read(path, {"k": 1}) is None


def test_an_unwritable_cache_warns_and_still_loads(tmp_path, monkeypatch, builds):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("OPTBENCH_CACHE", str(blocker))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = sklearn_bundled.load_iris()
    assert split.x_train.shape == (120, 4)
    assert any("cannot cache dataset 'iris'" in str(w.message) for w in caught)


HEAVY = ("sklearn", "scipy", "sympy", "torchvision", "torch._dynamo")
BUILD_DIGITS = (
    "from optbench.tasks.registry import build_loader, build_model, get_task\n"
    "task = get_task('digits-mlp')\n"
    "split = build_loader(task)(None)\n"
    "model = build_model(task)(split.input_shape, split.num_classes)\n"
    "assert split.x_train.shape == (1437, 64) and model(split.x_val).shape == (360, 10)\n"
)


def test_a_warm_cache_builds_digits_mlp_without_heavy_imports(cache_dir, loaded_after):
    sklearn_bundled.load_digits()  # warms the cache, in this process
    assert os.listdir(cache_dir / "datasets") == ["digits.npz"]
    assert loaded_after(BUILD_DIGITS, HEAVY) == []  # a fresh interpreter imports none
