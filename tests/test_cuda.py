"""The CUDA path: runs only where a CUDA device exists (skipped in CI)."""

from __future__ import annotations

import pytest
import torch

from optbench.plan.canonical import resolve
from optbench.plan.parser import parse_plan
from optbench.train.loop import RunConfig, train_run
from optbench.train.record import Status

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_a_run_trains_on_cuda_with_event_timings(tiny_split, tiny_model):
    plan = resolve(parse_plan("SGD | (Adam+d) | (SGD+M+cos)"))
    cuda = train_run(plan, "tiny", 0, RunConfig(3, 32, "cuda"), tiny_split.to(torch.device("cuda")),
                     tiny_model)  # fmt: skip
    cpu = train_run(plan, "tiny", 0, RunConfig(3, 32, "cpu"), tiny_split, tiny_model)
    assert cuda.status is Status.DONE and cuda.device == "cuda"
    assert all(e.ms_per_batch > 0 for e in cuda.epochs)
    # the same plan and seed learn the same thing on both devices (up to float rounding)
    assert cuda.final.accuracy == pytest.approx(cpu.final.accuracy, abs=0.05)
    assert [e.lr for e in cuda.epochs] == pytest.approx([e.lr for e in cpu.epochs])
