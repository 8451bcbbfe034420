"""[DSA]'s categorical UCI tables, read from the UCI repository's own files.

``car.data`` (Car Evaluation, Bohanec & Rajkovic 1988; 1,728 rows): comma-separated, six
attributes then the class, e.g. ``vhigh,vhigh,2,2,small,low,unacc``.
``agaricus-lepiota.data`` (Mushroom, Schlimmer 1987; 8,124 rows): comma-separated, the
class (``e`` edible, ``p`` poisonous) then 22 attributes of one-letter codes, ``?`` for a
missing stalk-root. The values each attribute may take are those of the repository's
``.names`` files; a line with another value or another number of fields (a truncated or
corrupt file) raises ``DataMissing`` naming the file and the line.

Encodings, chosen to match [DSA]'s Table 3, which gives CAR 6 attributes and AGARICUS 116:

- CAR, ordinal: every attribute of car.data is ordered (price low < med < high < vhigh,
  doors 2 < 3 < 4 < 5more, ...), so each becomes its rank scaled to [0, 1]: 6 features.
- AGARICUS, one-hot: its attributes are unordered (colours, odours, habitats), so each
  becomes one 0/1 column per value that occurs in the file, as ``pandas.get_dummies`` on
  the table makes them, with ``?`` (missing) encoded as no column set: 116 features on
  the real file.

Classes: CAR unacc, acc, good, vgood -> 0..3; AGARICUS e, p -> 0, 1. The split is
[DSA]'s hold-out (``optbench.tasks.data.holdout_indices``: 1,382/346 and 6,499/1,625
rows, fixed for every seed). Features are not standardized: they already lie in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from optbench.errors import DataMissing
from optbench.tasks.data import Split, holdout_indices
from optbench.tasks.datasets.files import AGARICUS, CAR, Layout

MISSING = "?"


@dataclass(frozen=True)
class Table:
    """The layout of one UCI file: its attributes' values in order, the class column."""

    file: str
    layout: Layout
    attributes: tuple[tuple[str, tuple[str, ...]], ...]  # (name, values in order)
    classes: tuple[str, ...]
    class_first: bool  # the class is the first field (AGARICUS), else the last (CAR)
    rows: int  # in the repository's file
    one_hot: bool
    missing_ok: tuple[str, ...] = ()  # attributes where "?" may stand

    @property
    def fields(self) -> int:
        return len(self.attributes) + 1


CAR_TABLE = Table(
    "car.data",
    CAR,
    (
        ("buying", ("low", "med", "high", "vhigh")),
        ("maint", ("low", "med", "high", "vhigh")),
        ("doors", ("2", "3", "4", "5more")),
        ("persons", ("2", "4", "more")),
        ("lug_boot", ("small", "med", "big")),
        ("safety", ("low", "med", "high")),
    ),
    classes=("unacc", "acc", "good", "vgood"),
    class_first=False,
    rows=1728,
    one_hot=False,
)
_COLOURS = ("n", "b", "c", "g", "o", "p", "e", "w", "y")  # stalk colours above/below the ring
AGARICUS_TABLE = Table(
    "agaricus-lepiota.data",
    AGARICUS,
    (
        ("cap-shape", ("b", "c", "x", "f", "k", "s")),
        ("cap-surface", ("f", "g", "y", "s")),
        ("cap-color", ("n", "b", "c", "g", "r", "p", "u", "e", "w", "y")),
        ("bruises", ("t", "f")),
        ("odor", ("a", "l", "c", "y", "f", "m", "n", "p", "s")),
        ("gill-attachment", ("a", "d", "f", "n")),
        ("gill-spacing", ("c", "w", "d")),
        ("gill-size", ("b", "n")),
        ("gill-color", ("k", "n", "b", "h", "g", "r", "o", "p", "u", "e", "w", "y")),
        ("stalk-shape", ("e", "t")),
        ("stalk-root", ("b", "c", "u", "e", "z", "r")),
        ("stalk-surface-above-ring", ("f", "y", "k", "s")),
        ("stalk-surface-below-ring", ("f", "y", "k", "s")),
        ("stalk-color-above-ring", _COLOURS),
        ("stalk-color-below-ring", _COLOURS),
        ("veil-type", ("p", "u")),
        ("veil-color", ("n", "o", "w", "y")),
        ("ring-number", ("n", "o", "t")),
        ("ring-type", ("c", "e", "f", "l", "n", "p", "s", "z")),
        ("spore-print-color", ("k", "n", "b", "h", "r", "o", "u", "w", "y")),
        ("population", ("a", "c", "n", "s", "v", "y")),
        ("habitat", ("g", "l", "m", "p", "u", "w", "d")),
    ),
    classes=("e", "p"),
    class_first=True,
    rows=8124,
    one_hot=True,
    missing_ok=("stalk-root",),
)


def read_table(path: Path, table: Table) -> tuple[list[list[str]], np.ndarray]:
    """The attribute values (one list per row) and int64 class indices of a UCI file.

    Blank lines are skipped. ``DataMissing`` naming the file (and the line) for a file
    that cannot be read, is not text, has a line with the wrong number of fields or a
    value the attribute cannot take, or has no rows.
    """
    try:
        text = path.read_bytes().decode("ascii")
    except OSError as e:
        raise DataMissing(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise DataMissing(f"{path}: not a UCI text file (bytes that are not ASCII)") from None
    rows: list[list[str]] = []
    labels: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        where = f"{path}:{number}"
        if len(fields) != table.fields:
            raise DataMissing(
                f"{where}: {len(fields)} of {table.fields} fields: truncated or corrupt "
                f"{table.file}"
            )
        label, values = (fields[0], fields[1:]) if table.class_first else (fields[-1], fields[:-1])
        if label not in table.classes:
            raise DataMissing(f"{where}: unknown class {label!r} in {table.file}")
        for (name, allowed), value in zip(table.attributes, values, strict=True):
            if value not in allowed and not (value == MISSING and name in table.missing_ok):
                raise DataMissing(f"{where}: {name} cannot be {value!r}: corrupt {table.file}")
        rows.append(values)
        labels.append(table.classes.index(label))
    if not rows:
        raise DataMissing(f"{path}: no rows: an empty or truncated {table.file}")
    return rows, np.asarray(labels, dtype=np.int64)


def encode(rows: Sequence[Sequence[str]], table: Table) -> np.ndarray:
    """float32 features: ranks scaled to [0, 1] (ordinal tables), or one 0/1 column per
    value present in ``rows``, in the attribute's documented order (one-hot tables)."""
    values = np.asarray(rows, dtype=object).reshape(len(rows), len(table.attributes))
    columns: list[np.ndarray] = []
    for j, (_, allowed) in enumerate(table.attributes):
        column = values[:, j]
        if table.one_hot:
            present = set(column)
            columns += [column == v for v in allowed if v in present]
        else:
            rank = {v: i for i, v in enumerate(allowed)}
            columns.append(np.array([rank[v] for v in column]) / (len(allowed) - 1))
    return np.stack(columns, axis=1).astype(np.float32)


def load_table(table: Table, data_dir: str | Path | None = None) -> Split:
    """The ``Split`` of one UCI table: found through its ``Layout``, read, encoded and
    split by [DSA]'s hold-out."""
    folder = table.layout.locate(data_dir)
    if folder is None:
        raise DataMissing(table.layout.not_found(data_dir))
    rows, y = read_table(folder / table.file, table)
    if len(y) < 2:
        raise DataMissing(f"{folder / table.file}: one row, too few to split")
    x = encode(rows, table)
    train, test = holdout_indices(len(y), 0.2, seed=0)
    return Split(
        torch.from_numpy(x[train]),
        torch.from_numpy(y[train]),
        torch.from_numpy(x[test]),
        torch.from_numpy(y[test]),
        num_classes=len(table.classes),
    )


def load_car(data_dir: str | Path | None = None) -> Split:
    """UCI Car Evaluation [DSA]: 6 ordinal features, 4 classes, 1,382/346 rows."""
    return load_table(CAR_TABLE, data_dir)


def load_agaricus(data_dir: str | Path | None = None) -> Split:
    """UCI Mushroom (agaricus-lepiota) [DSA]: 116 one-hot features on the real file,
    2 classes, 6,499/1,625 rows."""
    return load_table(AGARICUS_TABLE, data_dir)
