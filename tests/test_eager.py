"""Optimizers without torch.compile's wrappers: the same numbers, and no torch._dynamo."""

from __future__ import annotations

import pytest
import torch

from optbench.methods.ge import optimizer_kwargs
from optbench.methods.registry import REGISTRY, Kind
from optbench.train.eager import eager

GE = sorted(n for n, s in REGISTRY.items() if s.kind is Kind.GE and not s.needs_closure)


@pytest.mark.parametrize("name", GE)
def test_an_eager_optimizer_takes_the_same_steps_bit_for_bit(name):
    spec = REGISTRY[name]
    cls = spec.load()
    kwargs = optimizer_kwargs(spec, spec.defaults, [])
    torch.manual_seed(0)
    plain = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    fast = [torch.nn.Parameter(p.detach().clone()) for p in plain]
    a, b = cls(plain, **kwargs), eager(cls)(fast, **kwargs)
    for _ in range(4):
        for p, q in zip(plain, fast, strict=True):
            g = torch.randn_like(p)
            p.grad, q.grad = g.clone(), g.clone()
        a.step()
        b.step()
    assert all(torch.equal(p, q) for p, q in zip(plain, fast, strict=True))
    assert type(b).__name__ == cls.__name__ and isinstance(b, cls)
    b.load_state_dict(b.state_dict())


def test_a_run_imports_neither_dynamo_nor_the_heavy_libraries(tmp_path, loaded_after):
    from optbench.tasks.registry import build_loader, get_task

    build_loader(get_task("digits-mlp"))(None)  # the cache a first run fills
    plan = tmp_path / "p.yaml"
    plan.write_text(
        "experiment: s\ntasks: [digits-mlp]\nepochs: 3\nplans: [SGD | (Adam+d) | SGD]\n"
    )
    code = (
        "from optbench.cli.app import app\n"
        f"app(['run', {str(plan)!r}, '--db', {str(tmp_path / 'r.db')!r}, '--device', 'cpu'])"
    )
    heavy = ("torch._dynamo", "sympy", "scipy", "sklearn", "torchvision", "pandas")
    assert loaded_after(code, names=heavy) == []
