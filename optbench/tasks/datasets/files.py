"""Where datasets live on disk. No torch here: ``optbench tasks`` checks availability.

Every dataset is a ``Layout``: the files it needs, the sub-folders of the data root
(``--data-dir`` or ``OPTBENCH_DATA``) they may sit in, and how to get them. Loaders use the
same ``Layout`` to find the files and to say, in one line, what is missing and where
optbench looked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_val": "t10k-images-idx3-ubyte",
    "y_val": "t10k-labels-idx1-ubyte",
}
_PASS_DIR = "pass --data-dir DIR (or set OPTBENCH_DATA)"


def data_root(data_dir: str | Path | None) -> Path | None:
    """The user's data folder: ``--data-dir``, else ``OPTBENCH_DATA``, else None."""
    chosen = data_dir or os.environ.get("OPTBENCH_DATA")
    return Path(chosen) if chosen else None


def idx_file(folder: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in ``folder``, whichever exists."""
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


@dataclass(frozen=True)
class Layout:
    """The files one dataset needs and where they are looked for.

    Folders tried, in order: ``DIR/<subdir>`` for each subdir, ``DIR`` itself, then
    ``default`` (a system location such as Debian's). ``needed`` are paths relative to
    the folder; ``gz_ok`` also accepts ``name.gz`` (IDX files); names ending in ``/``
    are folders.
    """

    title: str
    subdirs: tuple[str, ...]
    needed: tuple[str, ...]
    hint: str
    default: Path | None = None
    gz_ok: bool = False

    def folders(self, data_dir: str | Path | None) -> list[Path]:
        root = data_root(data_dir)
        found = [root / s for s in self.subdirs] + [root] if root else []
        return found + ([self.default] if self.default else [])

    def file(self, folder: Path, name: str) -> Path | None:
        """The path of one needed file or folder in ``folder``, or None when absent."""
        if name.endswith("/"):
            return folder / name if (folder / name).is_dir() else None
        if self.gz_ok:
            return idx_file(folder, name)
        return folder / name if (folder / name).is_file() else None

    def missing(self, folder: Path) -> list[str]:
        return [name for name in self.needed if self.file(folder, name) is None]

    def locate(self, data_dir: str | Path | None = None) -> Path | None:
        """The first folder that holds every needed file, or None."""
        for folder in self.folders(data_dir):
            if folder.is_dir() and not self.missing(folder):
                return folder
        return None

    def not_found(self, data_dir: str | Path | None = None) -> str:
        """One line: what is missing, where optbench looked, how to get it."""
        folders = self.folders(data_dir)
        partial = [f for f in folders if f.is_dir() and len(self.missing(f)) < len(self.needed)]
        if partial:
            lacks = ", ".join(self.missing(partial[0]))
            where = f"{partial[0]} lacks {lacks}"
        elif folders:
            where = f"looked in {', '.join(str(f) for f in folders)}"
        else:
            where = "no --data-dir or OPTBENCH_DATA given"
        return f"{self.title} not found ({where}): {self.hint}"


def _hint(name: str, by_hand: str) -> str:
    """How to get a dataset: the fetch command first, then the files by hand."""
    return f"run 'optbench data fetch {name} --data-dir DIR', or {by_hand}; then {_PASS_DIR}"


MNIST = Layout(
    "MNIST",
    ("mnist",),
    tuple(IDX_STEMS.values()),
    _hint(
        "mnist",
        "download the four IDX files from https://yann.lecun.com/exdb/mnist/ (or a mirror) "
        "into DIR/mnist/",
    ),
    gz_ok=True,
)
FASHION_MNIST = Layout(
    "Fashion-MNIST",
    ("fashion-mnist",),
    tuple(IDX_STEMS.values()),
    "install Debian's package with 'apt-get install dataset-fashion-mnist' "
    f"(files in {FASHION_MNIST_DIR}), or "
    + _hint("fashion-mnist", "put the four IDX files in DIR/fashion-mnist/"),
    default=FASHION_MNIST_DIR,
    gz_ok=True,
)
CIFAR10 = Layout(
    "CIFAR-10",
    ("cifar-10-batches-py",),
    (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"),
    _hint(
        "cifar10",
        "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it in "
        "DIR (giving DIR/cifar-10-batches-py/)",
    ),
)
CIFAR100 = Layout(
    "CIFAR-100",
    ("cifar-100-python",),
    ("train", "test"),
    _hint(
        "cifar100",
        "download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and extract it in "
        "DIR (giving DIR/cifar-100-python/)",
    ),
)
SVHN = Layout(
    "SVHN",
    ("svhn",),
    ("train_32x32.mat", "test_32x32.mat"),
    _hint(
        "svhn",
        "download train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ "
        "into DIR/svhn/",
    ),
)
IMDB = Layout(
    "IMDB (aclImdb)",
    ("aclImdb",),
    ("train/pos/", "train/neg/", "test/pos/", "test/neg/"),
    _hint(
        "imdb",
        "download https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz and extract "
        "it in DIR (giving DIR/aclImdb/)",
    ),
)
UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"
CAR_URL = f"{UCI}/car/car.data"
AGARICUS_URL = f"{UCI}/mushroom/agaricus-lepiota.data"
CAR = Layout(
    "CAR (UCI car evaluation)",
    ("car",),
    ("car.data",),
    _hint("car", f"download {CAR_URL} into DIR/car/"),
)
AGARICUS = Layout(
    "AGARICUS (UCI mushroom)",
    ("mushroom",),
    ("agaricus-lepiota.data",),
    _hint("agaricus", f"download {AGARICUS_URL} into DIR/mushroom/"),
)


def locate_mnist(data_dir: str | Path | None = None) -> Path | None:
    return MNIST.locate(data_dir)


def locate_fashion_mnist(data_dir: str | Path | None = None) -> Path | None:
    return FASHION_MNIST.locate(data_dir)


def locate_cifar10(data_dir: str | Path | None = None) -> Path | None:
    return CIFAR10.locate(data_dir)


def locate_cifar100(data_dir: str | Path | None = None) -> Path | None:
    return CIFAR100.locate(data_dir)


def locate_svhn(data_dir: str | Path | None = None) -> Path | None:
    return SVHN.locate(data_dir)


def locate_imdb(data_dir: str | Path | None = None) -> Path | None:
    return IMDB.locate(data_dir)


def locate_car(data_dir: str | Path | None = None) -> Path | None:
    return CAR.locate(data_dir)


def locate_agaricus(data_dir: str | Path | None = None) -> Path | None:
    return AGARICUS.locate(data_dir)
