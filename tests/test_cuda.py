"""The CUDA path: runs only where a CUDA device exists (skipped in CI)."""

from __future__ import annotations

import pytest
import torch

from optbench.train.config import RunConfig, RunSpec
from optbench.train.engine import train_pass
from optbench.train.problems import Classification
from optbench.train.record import Status
from tests.training import specs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_a_run_trains_on_cuda_with_event_timings(tiny_split, tiny_model):
    (spec,) = specs("SGD | (Adam+d) | (SGD+M+cos)")
    on_gpu = RunSpec(spec.plan, spec.task, 0, RunConfig(3, 32, "cuda"))
    gpu_data = tiny_split.to(torch.device("cuda"))
    (cuda,) = train_pass([on_gpu], Classification(gpu_data, tiny_model))
    (cpu,) = train_pass([spec], Classification(tiny_split, tiny_model))
    assert cuda.status is Status.DONE and cuda.device == "cuda"
    assert all(e.ms_per_batch > 0 for e in cuda.epochs)
    # the same plan and seed learn the same thing on both devices (up to float rounding)
    assert cuda.final.accuracy == pytest.approx(cpu.final.accuracy, abs=0.05)
    assert [e.lr for e in cuda.epochs] == pytest.approx([e.lr for e in cpu.epochs])


def test_stacked_seeds_on_cuda_match_separate_runs(tiny_split, tiny_model):
    plan = specs("SGD(lr=0.1)+M | (Adam+d)")[0].plan
    runs = [RunSpec(plan, "tiny", s, RunConfig(3, 32, "cuda")) for s in range(4)]
    problem = Classification(tiny_split.to(torch.device("cuda")), tiny_model)
    stacked = train_pass(runs, problem)
    for run, together in zip(runs, stacked, strict=True):
        (alone,) = train_pass([run], problem)
        assert together.seeds_per_pass == 4 and alone.seeds_per_pass == 1
        assert [e.val_acc for e in together.epochs] == pytest.approx(
            [e.val_acc for e in alone.epochs], abs=1e-6
        )
