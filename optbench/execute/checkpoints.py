"""Checkpoint files: each pass's state after its last finished epoch, so that a killed run
resumes from there.

A pass (one or more stacked seeds) writes ``<folder>/<pass>.<stamp>.pt`` (``torch.save``
of the engine's snapshot) after every epoch, then ``<pass>.json`` naming that file, its
runs and how many epochs each has: the runner finds a run's checkpoint without loading
tensors. Each is written to a temporary file and renamed into place, and the index only
once the snapshot it names is complete, so an index and its snapshot always agree. A kill
between the two leaves the previous pair (the resumed pass trains that epoch again); the
newer snapshot, named by no index, goes at the next save, as a replaced one does. Files
are read with ``torch.load(weights_only=True)``. When a run finishes, its checkpoint is no
longer needed; a file goes once none of its runs needs it.

By default the folder sits beside the database: ``results.db`` keeps its checkpoints in
``results.db.checkpoints/``; a server database (PostgreSQL) in ``optbench-checkpoints/``
of the working directory, or wherever ``--checkpoints DIR`` / ``$OPTBENCH_CHECKPOINTS``
says.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optbench.errors import BadInput, CheckpointUnwritable

ENV_VAR = "OPTBENCH_CHECKPOINTS"


def default_folder(url: str) -> Path:
    """Where the checkpoints of the database at ``url`` live (see the module docstring)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = url.removeprefix("sqlite:///").split("?", 1)[0]
        return Path(path + ".checkpoints")
    return Path("optbench-checkpoints")


def pass_id(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Found:
    """A checkpoint file and the runs in it, with the epochs each has finished."""

    path: Path
    runs: tuple[str, ...]
    epochs: tuple[int, ...]
    index: Path | None = None  # the ``<pass>.json`` naming it


class Checkpoints:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def check_writable(self) -> None:
        """``BadInput`` unless the folder is one, or can be made, where this process may
        write; nothing is created."""
        if self.folder.exists():
            if not self.folder.is_dir():
                raise BadInput(f"checkpoint folder {self.folder}: not a folder")
            if not os.access(self.folder, os.W_OK | os.X_OK):
                raise BadInput(f"checkpoint folder {self.folder}: not writable")
            return
        parent = self.folder.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise BadInput(f"checkpoint folder {self.folder}: cannot be made in {parent}")

    def save_bytes(self, keys: Sequence[str], blob: bytes, epochs: Sequence[int]) -> None:
        """Write the checkpoint ``blob`` (a ``torch.save``d snapshot) of the pass of runs
        ``keys``, whose runs have finished ``epochs`` epochs, replacing its last one."""
        name = pass_id(keys)
        stamp = time.time_ns()
        while (data := self.folder / f"{name}.{stamp:x}.pt").exists():  # a clock that stood
            stamp += 1
        index = {"runs": list(keys), "epochs": list(epochs), "data": data.name}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _replace(data, lambda f: f.write(blob))
            _replace(self.folder / f"{name}.json", lambda f: f.write(json.dumps(index).encode()))
            for older in _snapshots(self.folder, name):
                if older != data:
                    older.unlink(missing_ok=True)
        except OSError as error:  # a full disk, a folder gone: the runs stop, not fail
            raise CheckpointUnwritable(
                f"cannot write a checkpoint in {self.folder}: {error.strerror or error}"
            ) from None

    def find(self, keys: Iterable[str]) -> list[Found]:
        """The checkpoints holding any of the runs ``keys``; a run in several files counts
        in the newest only."""
        wanted = set(keys)
        if not wanted or not self.folder.is_dir():
            return []
        found: list[tuple[float, Found]] = []
        for index in self.folder.glob("*.json"):
            try:
                meta = json.loads(index.read_text())
                data = _data_of(index, meta)
                stamp = data.stat().st_mtime
                runs, epochs = tuple(meta["runs"]), tuple(int(e) for e in meta["epochs"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # half-written or foreign: not a checkpoint to resume from
            if wanted & set(runs):
                found.append((stamp, Found(data, runs, epochs, index)))
        claimed: set[str] = set()
        out = []
        for _, f in sorted(found, key=lambda x: -x[0]):
            mine = [k for k in f.runs if k in wanted and k not in claimed]
            if mine:
                claimed.update(mine)
                out.append(f)
        return out

    def load(self, found: Found, keep: Sequence[str]) -> dict[str, Any]:
        """The checkpoint in ``found``, narrowed to runs ``keep`` (in that order)."""
        import torch

        state = torch.load(found.path, map_location="cpu", weights_only=True)
        index = [found.runs.index(k) for k in keep]
        if index == list(range(len(found.runs))):
            return state
        return select_runs(state, index)

    def discard_file(self, found: Found) -> None:
        """Remove one checkpoint file (one that cannot be read)."""
        found.path.unlink(missing_ok=True)
        if found.index is not None:
            found.index.unlink(missing_ok=True)

    def discard(self, finished: Iterable[str]) -> None:
        """Remove every file all of whose runs are in ``finished``."""
        done = set(finished)
        if not done or not self.folder.is_dir():
            return
        for index in self.folder.glob("*.json"):
            try:
                runs = set(json.loads(index.read_text())["runs"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if runs <= done:
                _remove(index)
        with contextlib.suppress(OSError):  # only an empty folder goes
            self.folder.rmdir()

    def prune(self, finished) -> None:
        """Remove every file none of whose runs needs it any more: ``finished(keys)`` says
        which of the runs ``keys`` are finished (done or diverged, or no longer stored).
        A pass that stopped after some of its seeds ended, and was resumed as the rest,
        leaves such a file."""
        if not self.folder.is_dir():
            return
        listed: dict[Path, list[str]] = {}
        for index in self.folder.glob("*.json"):
            try:
                listed[index] = list(json.loads(index.read_text())["runs"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        done = finished({k for runs in listed.values() for k in runs})
        for index, runs in listed.items():
            if set(runs) <= done:
                _remove(index)
        with contextlib.suppress(OSError):
            self.folder.rmdir()


_PER_RUN_LISTS = ("runs", "generators", "records", "outcome", "errors", "points")
_STACKED_STATES = ("model", "steppers", "average", "polyak")


def select_runs(state: dict[str, Any], index: Sequence[int]) -> dict[str, Any]:
    """A stacked pass's checkpoint narrowed to the seeds at ``index``: every tensor of the
    stacked states with a leading seed dimension is indexed, shared scalars (0-d tensors,
    such as an optimizer's step count) are kept, per-run lists are picked."""
    import torch

    if not state.get("stacked"):
        raise ValueError("only a stacked pass's checkpoint can be narrowed to some of its runs")
    positions = torch.tensor(list(index))

    def narrow(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.index_select(0, positions) if value.dim() >= 1 else value
        if isinstance(value, dict):
            return {k: narrow(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(narrow(v) for v in value)
        return value

    out = dict(state)
    for key in _STACKED_STATES:
        out[key] = narrow(state[key])
    for key in _PER_RUN_LISTS:
        out[key] = [state[key][i] for i in index]
    return out


def _data_of(index: Path, meta: dict[str, Any]) -> Path:
    """The snapshot an index names (``<pass>.pt`` in indexes written before it named one)."""
    name = meta.get("data", f"{index.stem}.pt")
    if not isinstance(name, str) or Path(name).name != name:
        raise ValueError(f"not a snapshot's name: {name!r}")
    return index.with_name(name)


def _snapshots(folder: Path, name: str) -> list[Path]:
    """Every snapshot file of pass ``name``: the one its index names, older ones, and any
    that a save cut short left unnamed."""
    return [*folder.glob(f"{name}.*.pt"), *folder.glob(f"{name}.pt")]


def _remove(index: Path) -> None:
    """A pass's index and all its snapshots."""
    for snapshot in _snapshots(index.parent, index.stem):
        snapshot.unlink(missing_ok=True)
    index.unlink(missing_ok=True)


def _replace(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
