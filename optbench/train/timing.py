"""Timing of the training region only: CUDA events on a GPU, perf_counter on the CPU."""

from __future__ import annotations

import time

import torch


class EpochTimer:
    """Brackets one epoch's training steps; ``elapsed_s()`` syncs once, at the epoch end."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        if self.cuda:
            self._start.record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            self._end.record()
        else:
            self._t1 = time.perf_counter()

    def elapsed_s(self) -> float:
        if self.cuda:
            self._end.synchronize()
            return self._start.elapsed_time(self._end) / 1000.0
        return self._t1 - self._t0
