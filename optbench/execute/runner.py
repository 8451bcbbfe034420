"""Running the runs of a plan file: claim them in the store, hand them to an executor in
passes, and store what each pass reports.

Three steps kept apart (SPEC §7b): planning (``planning.expand``: specifications),
executing (an executor runs ``optbench.train.engine.train_pass`` on a pass, here or on a
Ray cluster, and needs no database), storing (this module, the only one that writes).

A run is trained by one runner at a time: ``Store.claim`` makes it this runner's in one
atomic statement with a lease, which a background thread renews (``heartbeat``); a run
whose runner died is claimable again once its lease has expired. Done runs are never
claimed; diverged runs are results and are claimed only with ``retry_diverged``; failed
and interrupted runs are claimed again. A claimed run with a checkpoint resumes from its
last finished epoch (its stored epochs after that are dropped first); without one it
starts over (its stored epochs are dropped).
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from optbench.errors import ClaimLost, OptbenchError
from optbench.execute.checkpoints import Checkpoints, Found
from optbench.execute.planning import Planned, passes, stacking
from optbench.store.repository import new_owner
from optbench.train.config import RunSpec
from optbench.train.record import EpochRecord, RunRecord, Status

LEASE_S = 120.0  # a claim lasts this long unless renewed
HEARTBEAT_S = 30.0  # the claims are renewed this often


def trains(status: Status, retry_diverged: bool = False) -> bool:
    """Whether a run stored with ``status`` is (re)trained: not when done, nor when
    diverged (a result) unless asked."""
    return status is not Status.DONE and (retry_diverged or status is not Status.DIVERGED)


@dataclass(frozen=True)
class Job:
    """One pass to train: runs of one plan, task and configuration (their seeds), their
    ids in the store and, when they resume, the checkpoint they resume from."""

    specs: tuple[RunSpec, ...]
    run_ids: tuple[int, ...]
    resume: Found | None = None
    stacked: bool = False

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.specs]

    def load_resume(self) -> dict | None:
        """The checkpoint to resume from, narrowed to this job's runs (needs torch)."""
        if self.resume is None:
            return None
        return Checkpoints(self.resume.path.parent).load(self.resume, self.keys)


class Progress:
    """What a runner tells whoever watches it; this one tells nobody."""

    def started(self, job: Job, first_epoch: int) -> None:
        pass

    def epoch(self, job: Job, index: int, record: EpochRecord) -> None:
        pass

    def finished(self, job: Job, index: int, record: RunRecord) -> None:
        pass

    def lost(self, job: Job, error: OptbenchError) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclass
class Summary:
    finished: list[RunRecord] = field(default_factory=list)
    stored: int = 0  # done before this runner started (or diverged, when not retried)
    elsewhere: int = 0  # held by another live runner
    lost: int = 0  # taken over by another runner while this one trained them

    def count(self, status: Status) -> int:
        return sum(r.status is status for r in self.finished)


class Runner:
    """Claims, trains (through an executor) and stores the runs of one plan file."""

    def __init__(
        self,
        store,
        checkpoints: Checkpoints,
        *,
        owner: str | None = None,
        width: Callable[[str, int], int] = lambda task, batch_size: 10,
        stack: bool = True,
        retry_diverged: bool = False,
        lease_s: float = LEASE_S,
        heartbeat_s: float = HEARTBEAT_S,
        progress: Progress | None = None,
    ) -> None:
        self.store, self.checkpoints = store, checkpoints
        self.owner = owner or new_owner()  # host:pid:random
        self.width, self.stack, self.retry_diverged = width, stack, retry_diverged
        self.lease_s, self.heartbeat_s = lease_s, heartbeat_s
        self.progress = progress or Progress()
        self.summary = Summary()
        self._held: set[int] = set()  # claimed and not finished yet
        self._handled: set[int] = set()  # finished, or lost to another runner, by this one
        self._lock = threading.Lock()

    # -- the whole run --------------------------------------------------------------------

    def train(self, planned: Sequence[Planned], states, executor) -> Summary:
        """Claim and train every planned run not done yet; ``states`` are the runs as
        stored (``Store.plan_runs``: id and status), in the order of ``planned``.

        A KeyboardInterrupt releases this runner's claims (the runs become interrupted
        and keep their checkpoints) and propagates.
        """
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        beat.start()
        try:
            executor.execute(self._jobs(planned, states), self)
        except BaseException:
            self._release_all("interrupted while training")
            raise
        finally:
            stop.set()
            beat.join()
        self.checkpoints.prune(self._finished)
        return self.summary

    def _finished(self, keys) -> set[str]:
        """Which of the runs ``keys`` need no checkpoint: done, diverged or not stored."""
        stored = self.store.by_keys(list(keys))
        return {
            k for k in keys if k not in stored or stored[k].status in (Status.DONE, Status.DIVERGED)
        }

    def _jobs(self, planned: Sequence[Planned], states) -> Iterator[Job]:
        """Claim runs group by group, at most ``width`` at a time, and yield them as
        passes: runs with a checkpoint as the pass they were in, the others newly.

        Runs another runner holds are passed over, then looked at again once every group
        has been through: a runner that died meanwhile (its process gone from this
        machine, or its lease run out) has lost them, and they are claimed then. The
        sweeps end when one claims nothing; what other live runners still hold is
        counted in ``summary.elsewhere``."""
        groups: dict[tuple, list[tuple[RunSpec, int]]] = {}
        for p, stored in zip(planned, states, strict=True):
            if not trains(stored.status, self.retry_diverged):
                self.summary.stored += 1
                continue
            key = (p.spec.plan, p.spec.task, p.spec.config)
            groups.setdefault(key, []).append((p.spec, stored.id))
        while groups:
            claimed_any = False
            for (plan, task, config), runs in groups.items():
                stacks, _ = stacking(plan, task, self.stack)
                size = self.width(task, config.batch_size) if stacks else 1
                self._reclaim_from_dead_runners([i for _, i in runs])
                for start in range(0, len(runs), size):
                    chunk = runs[start : start + size]
                    claimed = set(self.store.claim([i for _, i in chunk], self.owner,
                                                   self.lease_s,
                                                   retry_diverged=self.retry_diverged))  # fmt: skip
                    if not claimed:
                        continue
                    claimed_any = True
                    mine = [(s, i) for s, i in chunk if i in claimed]
                    with self._lock:
                        self._held.update(claimed)
                    yield from self._passes(mine, stacks, size)
            groups = self._still_to_train(groups)
            if not claimed_any:
                break
        self.summary.elsewhere = sum(len(runs) for runs in groups.values())

    def _still_to_train(self, groups: dict[tuple, list[tuple[RunSpec, int]]]) -> dict:
        """The runs of ``groups`` that are neither finished nor this runner's, as stored now."""
        specs = [s for runs in groups.values() for s, _ in runs]
        stored = {s.key: found for s, found in zip(specs, self.store.lookup(specs), strict=True)}
        left: dict[tuple, list[tuple[RunSpec, int]]] = {}
        for key, runs in groups.items():
            for spec, run_id in runs:
                found = stored[spec.key]
                finished = found is None or not trains(found.status, self.retry_diverged)
                with self._lock:  # what this command trained (or lost) is not tried again
                    ours = run_id in self._held or run_id in self._handled
                if not finished and not ours:
                    left.setdefault(key, []).append((spec, run_id))
        return left

    def _passes(self, runs: list[tuple[RunSpec, int]], stacks: bool, size: int) -> Iterator[Job]:
        ids = {s.key: i for s, i in runs}
        by_key = {s.key: s for s, _ in runs}
        for found in self.checkpoints.find(ids):
            if not zipfile.is_zipfile(found.path):  # not what torch.save writes: damaged
                self.checkpoints.discard_file(found)
                self.progress.note(f"the checkpoint {found.path} is damaged: its runs start over")
                continue
            keep = [k for k in found.runs if k in ids and k in by_key]
            for k in keep:
                epochs = found.epochs[found.runs.index(k)]
                self.store.truncate_epochs(ids[k], self.owner, epochs)
            stacked = len(found.runs) > 1 or stacks
            yield Job(
                tuple(by_key.pop(k) for k in keep), tuple(ids[k] for k in keep), found, stacked
            )
        for k in by_key:
            self.store.truncate_epochs(ids[k], self.owner, 0)
        for group in passes(by_key.values(), size, stacks):
            yield Job(tuple(group), tuple(ids[s.key] for s in group), None, len(group) > 1)

    # -- what a pass reports (called by executors, in this process) ------------------------

    def started(self, job: Job, first_epoch: int) -> None:
        self.progress.started(job, first_epoch)

    def epochs(self, job: Job, records: Sequence[tuple[int, EpochRecord]]) -> None:
        """Store the pass's finished epoch, every run's row in one write. ``ClaimLost``
        when another runner has taken over any of them (this runner's lease lapsed): the
        pass stops, and its runs still held are released to be claimed again."""
        rows: dict[int, list[EpochRecord]] = {}
        for index, record in records:
            rows.setdefault(job.run_ids[index], []).append(record)
        lost = self.store.add_epochs_many(self.owner, rows)
        if lost:
            with self._lock:
                mine = [i for i in job.run_ids if i in self._held and i not in lost]
                self._held.difference_update(job.run_ids)
                self._handled.update(job.run_ids)
            self.store.release(mine, self.owner, "another runner took over runs of its pass")
            raise ClaimLost(f"runs {', '.join(map(str, lost))} were taken over by another runner")
        for index, record in records:
            self.progress.epoch(job, index, record)

    def finished(self, job: Job, index: int, record: RunRecord) -> None:
        run_id = job.run_ids[index]
        self.store.finish_run(run_id, self.owner, record)
        with self._lock:
            self._held.discard(run_id)
            self._handled.add(run_id)
        self.summary.finished.append(record)
        self.progress.finished(job, index, record)

    def checkpoint(self, job: Job, blob: bytes, epochs: Sequence[int]) -> None:
        self.checkpoints.save_bytes(job.keys, blob, epochs)

    def done(self, job: Job) -> None:
        """The pass is over: its runs need their checkpoints no more."""
        self.checkpoints.discard(job.keys)

    def lost(self, job: Job, error: OptbenchError) -> None:
        """Another runner took over some of this pass's runs (this runner's lease
        lapsed): stop caring for all of them."""
        with self._lock:
            self._held.difference_update(job.run_ids)
            self._handled.update(job.run_ids)
        self.summary.lost += len(job.run_ids)
        self.progress.lost(job, error)

    # -- claims ---------------------------------------------------------------------------

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_s):
            with self._lock:
                held = sorted(self._held)
            if held:
                # a failed renewal is not fatal: the next write to those runs says
                # whether they are still this runner's
                with contextlib.suppress(OptbenchError):
                    self.store.heartbeat(self.owner, held, self.lease_s)

    def _reclaim_from_dead_runners(self, run_ids: list[int]) -> None:
        """Runs held by a runner process of this machine that no longer exists (killed,
        crashed) lose their claim at once, rather than when their lease runs out."""
        host = socket.gethostname()
        for owner in self.store.running_owners(run_ids):
            name, _, rest = owner.partition(":")
            pid = rest.partition(":")[0]
            if name == host and pid.isdigit() and not _alive(int(pid)):
                self.store.expire(owner)

    def _release_all(self, error: str) -> None:
        with self._lock:
            held, self._held = sorted(self._held), set()
        if held:
            self.store.release(held, self.owner, error)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and, where /proc tells, is not a zombie
    (killed, waiting for its parent to collect it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def serialize(state: dict) -> bytes:
    """A checkpoint as bytes (``torch.save``), to write to a file or send to the runner."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
