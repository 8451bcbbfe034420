"""``optbench data fetch``: the folders the loaders read, and one clear line without a network.

No test touches the network: downloads are replaced by functions that write small files
in the original formats, or that fail as an unreachable network does.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.tasks.datasets import files

runner = CliRunner()
UNREACHABLE = urllib.error.URLError(OSError(101, "Network is unreachable"))


def fetch(*args: str):
    return runner.invoke(app, ["data", "fetch", *args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def _no_env_data_root(monkeypatch):
    monkeypatch.delenv("OPTBENCH_DATA", raising=False)


@pytest.fixture
def tv_utils():
    from torchvision.datasets import utils

    return utils


@pytest.fixture
def offline(monkeypatch, tv_utils):
    """Every download fails as on a machine without a network."""

    def unreachable(*args, **kwargs):
        raise UNREACHABLE

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(tv_utils, "download_url", unreachable)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def mnist_like_files(n_train: int = 6, n_val: int = 3) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, n_train)),
        "t10k-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (n_val, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, n_val)),
    }


def serve(monkeypatch, tv_utils, payloads: dict[str, bytes]) -> list[str]:
    """torchvision's ``download_url`` writes ``payloads[filename]``; returns the URLs asked."""
    asked: list[str] = []

    def download_url(url, root, filename=None, md5=None, max_redirect_hops=3):
        asked.append(url)
        name = filename or url.rsplit("/", 1)[1]
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / name).write_bytes(payloads[name])

    monkeypatch.setattr(tv_utils, "download_url", download_url)
    return asked


@pytest.mark.parametrize(
    "name, title",
    [
        ("mnist", "MNIST"),
        ("FashionMNIST", "Fashion-MNIST"),
        ("cifar10", "CIFAR-10"),
        ("CIFAR-100", "CIFAR-100"),
        ("svhn", "SVHN"),
        ("imdb", "IMDB"),
    ],
)
def test_without_a_network_one_line_exit_3_and_nothing_left(offline, tmp_path, name, title):
    root = tmp_path / "data"
    result = fetch(name, "--data-dir", str(root))
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: cannot fetch {title}")
    assert lines[0].endswith("failed: Network is unreachable")
    assert not root.exists()  # the folder it made for the download is gone again


def test_a_failed_fetch_leaves_an_existing_folder_as_it_was(offline, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = fetch("cifar10", "--data-dir", str(tmp_path))
    assert result.exit_code == 3
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_corrupt_download_is_refused_and_removed(monkeypatch, tv_utils, tmp_path):
    def download_url(url, root, filename=None, md5=None, max_redirect_hops=3):
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / filename).write_bytes(b"half a file")
        raise RuntimeError("File not found or corrupted.")

    monkeypatch.setattr(tv_utils, "download_url", download_url)
    result = fetch("svhn", "--data-dir", str(tmp_path))
    assert result.exit_code == 3
    assert "File not found or corrupted." in result.output
    assert list(tmp_path.iterdir()) == []


def test_mnist_lands_where_the_loader_reads_it(monkeypatch, tv_utils, tmp_path):
    from optbench.tasks.datasets.idx import load_mnist

    asked = serve(monkeypatch, tv_utils, mnist_like_files())
    result = fetch("mnist", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"--data-dir {tmp_path}" in result.output
    assert files.MNIST.locate(tmp_path) == tmp_path / "mnist"
    assert [p.name for p in tmp_path.iterdir()] == ["mnist"]  # no scratch folder left
    assert len(asked) == 4 and all(url.startswith("https://") for url in asked)
    split = load_mnist(tmp_path)
    assert tuple(split.x_train.shape) == (6, 1, 28, 28)

    def must_not_download(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(tv_utils, "download_url", must_not_download)
    again = fetch("mnist", "--data-dir", str(tmp_path))
    assert again.exit_code == 0
    assert "already" in again.output


def test_an_unreachable_mirror_falls_back_to_the_next(monkeypatch, tv_utils, tmp_path):
    payloads = mnist_like_files()

    def download_url(url, root, filename=None, md5=None, max_redirect_hops=3):
        if "ossci" in url:
            raise UNREACHABLE
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / filename).write_bytes(payloads[filename])

    monkeypatch.setattr(tv_utils, "download_url", download_url)
    assert fetch("mnist", "--data-dir", str(tmp_path)).exit_code == 0
    assert files.MNIST.locate(tmp_path) == tmp_path / "mnist"


def test_cifar10_tarball_is_extracted_and_removed(monkeypatch, tv_utils, tmp_path):
    batch = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})
    names = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]
    tarball = tar_gz({f"cifar-10-batches-py/{n}": batch for n in names})
    serve(monkeypatch, tv_utils, {"cifar-10-python.tar.gz": tarball})
    result = fetch("cifar10", "--data-dir", str(tmp_path / "new" / "data"))
    assert result.exit_code == 0, result.output
    root = tmp_path / "new" / "data"
    assert files.CIFAR10.locate(root) == root / "cifar-10-batches-py"
    assert [p.name for p in root.iterdir()] == ["cifar-10-batches-py"]


def test_imdb_comes_from_stanford_through_urllib(monkeypatch, tmp_path):
    from optbench.tasks.datasets.fetch import IMDB_URL

    tarball = tar_gz(
        {
            f"aclImdb/{split}/{label}/0_{score}.txt": b"a fine film"
            for split in ("train", "test")
            for label, score in (("pos", 9), ("neg", 2))
        }
    )
    asked = []

    def urlopen(url, *args, **kwargs):
        asked.append(url)
        return io.BytesIO(tarball)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    result = fetch("imdb", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert asked == [IMDB_URL]
    assert files.IMDB.locate(tmp_path) == tmp_path / "aclImdb"
    assert [p.name for p in tmp_path.iterdir()] == ["aclImdb"]


def test_a_partial_folder_already_there_is_not_touched(offline, tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte").write_bytes(b"")
    result = fetch("mnist", "--data-dir", str(tmp_path))
    assert result.exit_code == 3
    assert "move it away" in result.output
    assert [p.name for p in (tmp_path / "mnist").iterdir()] == ["train-images-idx3-ubyte"]


def test_an_unknown_name_exits_2_with_the_closest():
    result = fetch("mnsit", "--data-dir", "/nonexistent")
    assert result.exit_code == 2
    assert "'mnist'" in result.output
    assert "Traceback" not in result.output


def test_bundled_datasets_need_no_fetch():
    result = fetch("iris")
    assert result.exit_code == 0
    assert "scikit-learn" in result.output


def test_without_a_data_folder_exits_2_naming_the_option():
    result = fetch("mnist")
    assert result.exit_code == 2
    assert "--data-dir" in result.output


def test_every_fetchable_datasets_missing_hint_names_its_fetch_command(tmp_path):
    from optbench.tasks.datasets.fetch import SOURCES

    assert {"car", "agaricus"} <= set(SOURCES)
    for name, source in SOURCES.items():
        assert f"optbench data fetch {name} --data-dir DIR" in source.layout.hint
        if source.layout.default is None:  # Fashion-MNIST may be installed system-wide
            assert f"optbench data fetch {name}" in source.layout.not_found(tmp_path)


@pytest.mark.parametrize("name", ["car", "mnist"])
def test_a_data_dir_that_is_a_file_is_bad_input_and_left_alone(tmp_path, name):
    path = tmp_path / "a-file"
    path.write_text("mine")
    result = fetch(name, "--data-dir", str(path))
    assert result.exit_code == 2
    assert "a file, not a folder" in result.output
    assert path.read_text() == "mine"
