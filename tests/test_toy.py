"""The toy problems of [DSA]: the whole toy loop against hand-written numpy updates, stage
switches, LR composition, divergence, and the trajectory plots."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from optbench.errors import BadInput
from optbench.tasks.toy import PROBLEMS, get_problem, sum_of_four_data
from optbench.train.toy import run_toy

A, B = 1.0, 1000.0
START = (-0.06, 0.001)


def grad_quadratic(w: np.ndarray) -> np.ndarray:
    return np.array([2.0 * A * w[0], 2.0 * B * w[1]])


def numpy_dsa(start, steps, grad, eta0=-12.0, beta1=0.6, beta2=0.3):
    """[DSA] formulas 5–6 in the order ``optbench/methods/dsa.py`` documents: η is adapted
    from the look-ahead gradient first, then θ −= 2^η·sign(g(θ)) with the new η."""
    w, eta = np.array(start, dtype=np.float64), np.full(2, eta0)
    trajectory = [tuple(w)]
    for _ in range(steps):
        g = grad(w)
        ahead = w - 2.0**eta * np.sign(g)  # formula 5, the look-ahead point θ̃
        agree = grad(ahead) * g
        eta = eta + beta2 * (agree > 0) - beta1 * (agree < 0)  # formula 6
        w = w - 2.0**eta * np.sign(g)
        trajectory.append(tuple(w))
    return trajectory


def quadratic_loss(w) -> float:
    return A * w[0] ** 2 + B * w[1] ** 2


def test_dsa_on_the_quadratic_follows_formulas_5_and_6():
    run = run_toy("DSA", "quadratic", 10)
    expected = numpy_dsa(START, 10, grad_quadratic)
    np.testing.assert_allclose(run.trajectory, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(run.losses, [quadratic_loss(w) for w in expected], rtol=1e-12)
    assert run.lrs == [1.0] * 10
    assert run.stages == [0] * 10
    assert not run.diverged
    assert run.plan == "DSA(lr=1.0, eta0=-12.0, beta1=0.6, beta2=0.3, eps=1e-30)"


def test_sgd_steps_are_w_minus_lr_times_the_gradient():
    lr = 0.0004
    run = run_toy(f"SGD(lr={lr})", "quadratic", 4)
    w = np.array(START)
    expected = [tuple(w)]
    for _ in range(4):
        w = w - lr * grad_quadratic(w)
        expected.append(tuple(w))
    np.testing.assert_allclose(run.trajectory, expected, rtol=1e-12)
    assert run.lrs == [lr] * 4


def test_lr_composition_with_time_based_decay():
    run = run_toy("SGD(lr=0.001)+d(rate=0.5)", "quadratic", 5)
    lrs = [0.001 / (1.0 + 0.5 * t) for t in range(5)]
    np.testing.assert_allclose(run.lrs, lrs, rtol=1e-15)
    w = np.array(START)
    for t, lr in enumerate(lrs):
        w = w - lr * grad_quadratic(w)
        np.testing.assert_allclose(run.trajectory[t + 1], w, rtol=1e-12, atol=1e-18)


def test_two_stage_plan_switches_optimizers_at_the_boundary():
    run = run_toy("Adamax | DSA", "quadratic", 10)
    assert run.stages == [0] * 5 + [1] * 5
    assert len(run.trajectory) == len(run.losses) == 11
    first = run_toy("Adamax", "quadratic", 5)
    np.testing.assert_allclose(run.trajectory[:6], first.trajectory, rtol=1e-12)
    # DSA starts fresh (η0 = −12) from where Adamax left off, with its own LR.
    np.testing.assert_allclose(
        run.trajectory[5:], numpy_dsa(run.trajectory[5], 5, grad_quadratic), rtol=1e-12
    )
    assert run.lrs == [0.002] * 5 + [1.0] * 5


def test_same_method_across_stages_is_one_long_run():
    split = run_toy("Adam(lr=0.01) | Adam(lr=0.01)", "sum-of-four", 8)
    whole = run_toy("Adam(lr=0.01)", "sum-of-four", 8)
    assert split.trajectory == whole.trajectory
    assert split.stages == [0] * 4 + [1] * 4


def test_a_non_finite_loss_stops_the_run_and_is_recorded():
    run = run_toy("SGD(lr=1.0)", "quadratic", 200)
    assert run.diverged
    assert len(run.trajectory) == len(run.losses) < 201
    assert len(run.lrs) == len(run.stages) == len(run.trajectory) - 1
    assert not math.isfinite(run.losses[-1])
    assert all(math.isfinite(x) for x in run.losses[:-1])


def test_sum_of_four_is_the_papers_regression_of_four_weights():
    """[DSA] §3.3: min_w ‖w·xᵀ − y‖ with w ∈ R⁴, y the sum of four numbers, optimum w = 1."""
    spec = get_problem("sum-of-four")
    x, y = sum_of_four_data()
    assert x.shape == (32, 4) and np.array_equal(y, x.sum(axis=1))
    assert (
        x.min() >= 0
        and x.max() < 1
        and np.array_equal(x, np.random.RandomState(0).uniform(0, 1, (32, 4)))
    )
    assert spec.dims == 4 and spec.minimum == (1.0, 1.0, 1.0, 1.0)
    assert spec.objective(*spec.minimum) == 0.0
    assert spec.objective(*spec.start) == pytest.approx(np.linalg.norm(y))  # the norm, not squared
    w = np.array([0.5, 1.5, -1.0, 2.0])
    assert spec.objective(*w) == pytest.approx(np.linalg.norm(x @ w - y))
    model = spec.build()
    assert [n for n, _ in model.named_parameters()] == ["w1", "w2", "w3", "w4"]
    model.loss().backward()
    residual = x @ np.zeros(4) - y
    np.testing.assert_allclose(
        [float(p.grad) for p in model.parameters()], x.T @ residual / np.linalg.norm(residual)
    )
    run = run_toy("DSA", "sum-of-four", 300)
    assert len(run.trajectory[0]) == 4 and run.trajectory[0] == spec.start
    np.testing.assert_allclose(run.trajectory[-1], spec.minimum, atol=1e-3)


def test_sum_of_four_has_a_zero_gradient_at_its_minimum():
    model = get_problem("sum-of-four").build()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    model.loss().backward()
    assert all(float(p.grad) == 0.0 for p in model.parameters())  # not NaN


def test_quadratic_b95_is_the_appendix_h_variant():
    spec = get_problem("quadratic-b95")
    assert spec.start == (-1.0, 1.0) and spec.minimum == (0.0, 0.0)
    assert spec.objective(-1.0, 1.0) == 1.0 + 95.0
    assert spec.objective(0.5, -0.2) == pytest.approx(0.25 + 95.0 * 0.04)
    run = run_toy("DSA", "quadratic-b95", 4)
    expected = numpy_dsa((-1.0, 1.0), 4, lambda w: np.array([2.0 * w[0], 190.0 * w[1]]))
    np.testing.assert_allclose(run.trajectory, expected, rtol=1e-12)


def test_plane_is_the_objective_through_the_minimum():
    four = get_problem("sum-of-four")
    w1, w2 = np.meshgrid(np.linspace(0, 2, 3), np.linspace(0, 2, 3))
    expected = [four.objective(a, b, 1.0, 1.0) for a, b in zip(w1.ravel(), w2.ravel(), strict=True)]
    np.testing.assert_allclose(four.plane(w1, w2).ravel(), expected)
    quad = get_problem("quadratic")
    assert quad.plane(0.1, 0.01) == quad.objective(0.1, 0.01)


def test_unknown_problem_names_the_valid_ones():
    with pytest.raises(BadInput) as error:
        run_toy("SGD", "rosenbrock", 5)
    for name in PROBLEMS:
        assert repr(name) in str(error.value)
    assert "'rosenbrock'" in str(error.value)


def test_every_part_of_a_plan_runs_on_a_toy_problem():
    # one engine: averaging, stage ends and plateau LR work on the objective as on data
    for plan in ("SGD(lr=0.0005)+avg", "SGD(lr=0.0005) | SGD(lr=0.0005)+polyak",
                 "SGD(lr=0.0005):plateau(patience=1, max=3) | Adam",
                 "SGD(lr=0.0005)+plateau(patience=0)"):  # fmt: skip
        run = run_toy(plan, "quadratic", 6)
        assert not run.diverged and len(run.trajectory) == len(run.losses)


def test_phase_averaging_on_a_toy_problem_ends_on_the_weighted_mean_of_its_points():
    steps, gamma = 4, 0.9 ** (80 / 4)
    plain = run_toy("SGD(lr=0.0005)", "quadratic", steps)
    averaged = run_toy("SGD(lr=0.0005)+avg", "quadratic", steps)
    points = plain.trajectory[1:]
    weights = [(1 - gamma) / (1 - gamma**steps) * gamma ** (steps - t) for t in range(1, steps + 1)]
    expected = tuple(sum(w * p[k] for w, p in zip(weights, points, strict=True)) for k in (0, 1))
    assert averaged.trajectory[:-1] == plain.trajectory[:-1]
    assert averaged.trajectory[-1] == pytest.approx(expected)


def test_full_and_lookahead_are_accepted():
    assert run_toy("SGD(lr=0.0005)+full", "quadratic", 3).trajectory == (
        run_toy("SGD(lr=0.0005)", "quadratic", 3).trajectory
    )
    run = run_toy("DSA+LA(k=2)", "quadratic", 4)
    assert len(run.trajectory) == 5 and not run.diverged


def test_plot_tracks_writes_png_and_svg(tmp_path):
    from matplotlib.image import imread

    from optbench.report.track_plot import plot_tracks

    plans = ["DSA", "SGD(lr=0.0005)", "Adamax | DSA"]
    png = plot_tracks(plans, "quadratic", 20, tmp_path / "tracks.png")
    assert png.stat().st_size > 0
    image = imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100

    svg = plot_tracks(["DSA", "SGD(lr=1.0)"], "sum-of-four", 20, tmp_path / "tracks.svg")
    text = svg.read_text()
    ET.fromstring(text)  # well-formed XML
    assert "<path" in text


def test_plot_tracks_refuses_other_suffixes(tmp_path):
    from optbench.report.track_plot import plot_tracks

    with pytest.raises(BadInput, match=r"\.png or \.svg"):
        plot_tracks(["SGD"], "quadratic", 5, tmp_path / "tracks.pdf")
    assert not (tmp_path / "tracks.pdf").exists()


def test_optbench_run_stores_a_toy_trajectory(tmp_path):
    from typer.testing import CliRunner

    from optbench.cli.app import app
    from optbench.store.engine import open_store

    plan_file = tmp_path / "toy.yaml"
    plan_file.write_text("experiment: toy\ntasks: [quadratic-track]\nepochs: 12\nplans: [DSA]\n")
    db = f"sqlite:///{tmp_path / 'toy.db'}"
    result = CliRunner().invoke(app, ["run", str(plan_file), "--db", db, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    store = open_store(db)
    (row,) = store.run_rows()
    epochs = store.epoch_rows([row["id"]])
    store.close()
    expected = run_toy("DSA", "quadratic", 12)
    assert [tuple(p) for p in row["extra"]["trajectory"]] == expected.trajectory
    assert [e["val_loss"] for e in epochs] == pytest.approx(expected.losses[1:])
    assert row["loss"] == pytest.approx(expected.losses[-1])
