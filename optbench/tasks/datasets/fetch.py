"""Downloading a dataset into the folders the loaders read (``optbench data fetch``).

Nothing is downloaded at run time (SPEC §4); this runs only when a user asks, on a machine
with a network. A fetch downloads into a scratch folder inside the data root, checks the
result against the dataset's ``Layout``, and moves it into place with one rename, so a
failed or interrupted fetch leaves nothing half-written where the loaders look.

- mnist, fashion-mnist: the four ``*-ubyte.gz`` files from torchvision's mirrors, MD5s
  checked, into ``DIR/mnist/``, ``DIR/fashion-mnist/`` (the loaders read ``.gz``);
- cifar10, cifar100: torchvision's python tarball, MD5 checked, extracted into
  ``DIR/cifar-10-batches-py/``, ``DIR/cifar-100-python/``;
- svhn: ``train_32x32.mat`` and ``test_32x32.mat`` from torchvision's URLs, MD5s checked,
  into ``DIR/svhn/``;
- imdb: ``aclImdb_v1.tar.gz`` from Stanford (urllib + tarfile), extracted into
  ``DIR/aclImdb/``;
- car, agaricus: ``car.data`` and ``agaricus-lepiota.data`` from the UCI repository
  (urllib) into ``DIR/car/`` and ``DIR/mushroom/``; the repository publishes no checksum,
  so the download is read with the loader's own parser and must hold the repository's
  1,728 and 8,124 rows.

digits, iris and wine ship with scikit-learn: there is nothing to fetch.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from optbench.errors import BadInput, FetchFailed, did_you_mean
from optbench.tasks.datasets import files

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
BUNDLED = ("digits", "iris", "wine")  # scikit-learn ships them


class _Failed(Exception):
    """One step of a fetch that went wrong; ``fetch`` turns it into ``FetchFailed``."""


def _reason(error: BaseException) -> str:
    """What went wrong, in one line: the OS's words for a network or disk error."""
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        reason = error.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _download_url(url: str, folder: Path, filename: str, md5: str | None) -> None:
    """torchvision's ``download_url`` (urllib, redirects, MD5 check), failing as ``_Failed``."""
    from torchvision.datasets import utils

    try:
        utils.download_url(url, str(folder), filename, md5)
    except (urllib.error.URLError, OSError, RuntimeError, ValueError) as error:
        raise _Failed(f"downloading {url} failed: {_reason(error)}") from None


def _extract(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise _Failed(f"{archive.name} is not a readable archive: {_reason(error)}") from None


def _idx_files(dataset_class: str, subdir: str) -> Callable[[Path], None]:
    """The four gzipped IDX files of torchvision's ``dataset_class``, each from the first
    of its mirrors that works; the loaders read ``.gz`` as it is."""

    def download(scratch: Path) -> None:
        from torchvision import datasets

        cls = getattr(datasets, dataset_class)
        for filename, md5 in cls.resources:
            failures = []
            for mirror in cls.mirrors:
                try:
                    _download_url(mirror + filename, scratch / subdir, filename, md5)
                    break
                except _Failed as failure:
                    failures.append(failure)
            else:
                raise failures[0]

    return download


def _tarball(dataset_class: str) -> Callable[[Path], None]:
    """torchvision's ``dataset_class`` python tarball, extracted (it holds the folder)."""

    def download(scratch: Path) -> None:
        from torchvision import datasets

        cls = getattr(datasets, dataset_class)
        _download_url(cls.url, scratch, cls.filename, cls.tgz_md5)
        _extract(scratch / cls.filename, scratch)

    return download


def _svhn(scratch: Path) -> None:
    from torchvision.datasets import SVHN

    for split in ("train", "test"):
        url, filename, md5 = SVHN.split_list[split]
        _download_url(url, scratch / "svhn", filename, md5)


def _urlretrieve(url: str, path: Path) -> None:
    """``url`` into ``path`` with urllib, failing as ``_Failed``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as response, path.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError) as error:
        raise _Failed(f"downloading {url} failed: {_reason(error)}") from None


def _imdb(scratch: Path) -> None:
    archive = scratch / IMDB_URL.rsplit("/", 1)[1]
    _urlretrieve(IMDB_URL, archive)
    _extract(archive, scratch)


def _uci(table_name: str, url: str) -> Callable[[Path], None]:
    """One UCI ``.data`` file into its folder, checked by the loader's parser: every line
    well-formed and the repository's number of rows."""

    def download(scratch: Path) -> None:
        from optbench.errors import DataMissing
        from optbench.tasks.datasets import uci

        table = getattr(uci, table_name)
        path = scratch / table.layout.subdirs[0] / table.file
        _urlretrieve(url, path)
        try:
            _, labels = uci.read_table(path, table)
        except DataMissing as error:
            reason = str(error).replace(str(path), table.file)
            raise _Failed(f"the download from {url} is not the UCI file: {reason}") from None
        if len(labels) != table.rows:
            raise _Failed(
                f"the download from {url} has {len(labels)} rows, not {table.rows}: "
                f"not the repository's {table.file}"
            )

    return download


@dataclass(frozen=True)
class Source:
    layout: files.Layout  # what the loaders need; the fetch fills ``DIR/layout.subdirs[0]``
    download: Callable[[Path], None]  # leaves ``scratch/layout.subdirs[0]`` in ``scratch``


SOURCES: Mapping[str, Source] = MappingProxyType(
    {
        "mnist": Source(files.MNIST, _idx_files("MNIST", "mnist")),
        "fashion-mnist": Source(files.FASHION_MNIST, _idx_files("FashionMNIST", "fashion-mnist")),
        "cifar10": Source(files.CIFAR10, _tarball("CIFAR10")),
        "cifar100": Source(files.CIFAR100, _tarball("CIFAR100")),
        "svhn": Source(files.SVHN, _svhn),
        "imdb": Source(files.IMDB, _imdb),
        "car": Source(files.CAR, _uci("CAR_TABLE", files.CAR_URL)),
        "agaricus": Source(files.AGARICUS, _uci("AGARICUS_TABLE", files.AGARICUS_URL)),
    }
)


_ALIASES = {"aclimdb": "imdb", "mushroom": "agaricus", "agaricuslepiota": "agaricus"}


def _squash(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def dataset_name(name: str) -> str:
    """The catalogue's name for what the user typed; case, ``-`` and ``_`` do not matter
    (``FashionMNIST``, ``CIFAR-10``, ``aclImdb``). ``BadInput`` naming the closest names."""
    known = [*SOURCES, *BUNDLED]
    wanted = _ALIASES.get(_squash(name), _squash(name))
    for candidate in known:
        if _squash(candidate) == wanted:
            return candidate
    hint = did_you_mean(name, known)
    raise BadInput(f"unknown dataset {name!r}{hint} (fetchable: {', '.join(SOURCES)})")


@dataclass(frozen=True)
class Fetched:
    title: str
    folder: Path  # DIR/<the dataset's folder>
    root: Path  # DIR, what ``--data-dir`` must name
    downloaded: bool  # False: it was there already


def _missing_dirs(root: Path) -> list[Path]:
    """``root`` and the ancestors of it that do not exist yet, deepest first."""
    missing = []
    while not root.exists() and root != root.parent:
        missing.append(root)
        root = root.parent
    return missing


def fetch(name: str, data_dir: str | Path | None) -> Fetched:
    """Download dataset ``name`` (a catalogue name, see ``dataset_name``) into
    ``DIR/<its folder>``, DIR being ``data_dir`` or ``OPTBENCH_DATA``.

    A complete folder already there is left alone. ``FetchFailed`` (no network, a bad
    download, a full disk) leaves DIR as it was; ``BadInput`` when no DIR is given.
    """
    source = SOURCES[name]
    layout, title = source.layout, source.layout.title
    root = files.data_root(data_dir)
    if root is None:
        raise BadInput(f"where to put {title}? pass --data-dir DIR (or set OPTBENCH_DATA)")
    root = root.expanduser()
    target = root / layout.subdirs[0]
    if target.is_dir() and not layout.missing(target):
        return Fetched(title, target, root, downloaded=False)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        lacks = ", ".join(layout.missing(target)) if target.is_dir() else "its files"
        raise FetchFailed(
            f"cannot fetch {title}: {target} is there but lacks {lacks}; "
            "move it away and fetch again"
        )
    created = _missing_dirs(root)
    scratch = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".optbench-fetch-", dir=root))
        source.download(scratch)
        got = scratch / layout.subdirs[0]
        lacks = layout.missing(got) if got.is_dir() else list(layout.needed)
        if lacks:
            raise _Failed(f"the download lacks {', '.join(lacks)}")
        if target.is_dir():
            target.rmdir()  # an empty folder made beforehand
        os.replace(got, target)
    except _Failed as failure:
        raise FetchFailed(f"cannot fetch {title}: {failure}") from None
    except OSError as error:  # the scratch folder or the final move: no space, no permission
        raise FetchFailed(
            f"cannot fetch {title}: cannot write in {root}: {_reason(error)}"
        ) from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if not target.exists():
            for folder in created:  # deepest first; only folders this fetch made, if empty
                try:
                    folder.rmdir()
                except OSError:
                    break
    return Fetched(title, target, root, downloaded=True)
