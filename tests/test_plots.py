"""``optbench plot curves|lr|track`` write non-empty PNG and SVG images; read them back."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from results_fixture import filled
from typer.testing import CliRunner

from optbench.cli.app import app

runner = CliRunner()
SVG = "{http://www.w3.org/2000/svg}"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def assert_png_drawn(path: Path) -> None:
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.05  # not a blank canvas


def svg_paths(path: Path) -> int:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return len(root.findall(f".//{SVG}path"))


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return filled(tmp_path_factory.mktemp("plots") / "r.db")


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_curves(db, tmp_path, suffix):
    out = tmp_path / f"curves{suffix}"
    result = invoke("plot", "curves", "--db", db, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    if suffix == ".png":
        assert_png_drawn(out)
    else:
        assert svg_paths(out) > 20


def test_plot_curves_marks_the_stage_boundaries_taken(db, tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from optbench.report.plots import plot_curves
    from optbench.report.results import load_results

    drawn: list[float] = []
    original = Axes.axvline

    def axvline(self, x=0, **kw):
        drawn.append(x)
        return original(self, x, **kw)

    monkeypatch.setattr(Axes, "axvline", axvline)
    frame = load_results(str(db), task="digits-mlp")
    plot_curves(frame, tmp_path / "c.png", plans=["SGD:plateau(patience=2, max=8) | Adam"])
    # two runs began stage 2 at epoch 6 and one at epoch 9: lines between the epochs
    assert sorted(drawn) == [5.5, 8.5]


def test_plot_curves_of_an_unknown_plan_or_curve_exits_2(db, tmp_path):
    result = invoke("plot", "curves", "--db", db, "--out", tmp_path / "c.png", "--plan", "NAdam")
    assert result.exit_code == 2 and "stored plans" in result.output
    result = invoke("plot", "curves", "--db", db, "--out", tmp_path / "c.png", "--y", "acc")
    assert result.exit_code == 2 and "val_acc" in result.output


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_lr_of_several_plans(tmp_path, suffix):
    out = tmp_path / f"lr{suffix}"
    result = invoke("plot", "lr", "SGD(lr=0.1)+sig", "SGD(lr=0.1)+warmup+sig",
                    "SGD(lr=0.1)+step", "--epochs", 100, "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    if suffix == ".png":
        assert_png_drawn(out)
    else:
        assert svg_paths(out) > 10


def test_plot_lr_draws_the_lr_curve(tmp_path, figures):
    """The line drawn is ``lr_curve``'s: sig [ANN] stays high, then falls to its floor."""
    invoke("plot", "lr", "SGD(lr=0.1)+sig", "--epochs", 100, "--out", tmp_path / "lr.png")
    [line] = figures[0].axes[0].get_lines()
    x, y = line.get_xdata(), line.get_ydata()
    assert x[0] == 0 and x[-1] == pytest.approx(100, abs=0.1)
    assert y[0] == pytest.approx(0.1, rel=0.01) and y[-1] < 0.01
    assert np.all(np.diff(y) <= 1e-12)


def test_a_bad_image_suffix_or_plan_exits_2(tmp_path):
    result = invoke("plot", "lr", "SGD", "--out", tmp_path / "lr.jpg")
    assert result.exit_code == 2 and ".png or .svg" in result.output
    result = invoke("plot", "lr", "SGD | Adma", "--out", tmp_path / "lr.png")
    assert result.exit_code == 2 and "'Adam'" in result.output
    assert not (tmp_path / "lr.png").exists()


@pytest.mark.skipif(
    importlib.util.find_spec("optbench.report.track_plot") is None,
    reason="optbench.report.track_plot (the toy-problem trajectories) is not in this tree",
)
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_track_on_the_quadratic(tmp_path, suffix):
    out = tmp_path / f"track{suffix}"
    result = invoke("plot", "track", "SGD(lr=0.001)", "Adam(lr=0.01)", "--problem", "quadratic",
                    "--steps", 50, "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    if suffix == ".png":
        assert_png_drawn(out)
    else:
        assert svg_paths(out) > 5


@pytest.fixture
def figures(monkeypatch):
    """The figures saved while a test runs."""
    from matplotlib.figure import Figure

    saved: list[Figure] = []
    original = Figure.savefig

    def savefig(self, *args, **kw):
        saved.append(self)
        return original(self, *args, **kw)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


def line_colours(figure) -> dict[str, str]:
    from matplotlib.colors import to_hex

    return {
        line.get_label().rsplit(" (n=", 1)[0]: to_hex(line.get_color())
        for ax in figure.axes
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }


def test_a_plans_colour_does_not_change_with_the_selection(db, tmp_path, figures):
    invoke("plot", "curves", "--db", db, "--task", "digits-mlp", "--out", tmp_path / "all.png")
    invoke("plot", "curves", "--db", db, "--task", "digits-mlp", "--plan", "SGD | SGD | SGD",
           "--plan", "Adam", "--out", tmp_path / "two.png")  # fmt: skip
    every, two = (line_colours(f) for f in figures)
    assert set(two) == {"SGD | SGD | SGD", "Adam"}
    assert {k: every[k] for k in two} == two
    assert len(set(every.values())) == len(every)  # and no two plans share one


def test_plot_curves_draws_each_configuration_in_its_own_panel(db, tmp_path, figures):
    result = invoke("plot", "curves", "--db", db, "--task", "digits-mlp", "--plan", "Adam",
                    "--out", tmp_path / "c.png")  # fmt: skip
    assert result.exit_code == 0, result.output
    [figure] = figures
    titles = [ax.get_title() for ax in figure.axes]
    assert len(titles) == 2
    assert "5 epochs, batch 32" in titles[0] and "20 epochs, batch 32" in titles[1]
    counts = [ax.get_lines()[0].get_label() for ax in figure.axes]
    assert counts == ["Adam (n=2)", "Adam (n=3)"]  # never pooled into n=5


def test_plot_lr_keeps_overlapping_curves_findable(tmp_path, figures):
    plans = ["SGD(lr=0.1)+sig", "SGD(lr=0.1)+warmup+sig", "SGD(lr=0.1)+step",
             "SGD(lr=0.1)+warmup+step"]  # fmt: skip
    result = invoke("plot", "lr", *plans, "--epochs", 100, "--out", tmp_path / "lr.png")
    assert result.exit_code == 0, result.output
    lines = figures[0].axes[0].get_lines()
    drawn = [line for line in lines if line.get_label() in plans]
    assert [line.get_label() for line in drawn] == plans  # named as written
    styles = {(line.get_linestyle(), line.get_marker(), line.get_linewidth()) for line in drawn}
    assert len(styles) == 4  # after the warm-up, sig and warmup+sig coincide: still two
    colours = line_colours(figures[0])
    assert len(set(colours.values())) == 4
    # markers at staggered places, so that coinciding curves show both
    starts = [line.get_markevery()[0] for line in drawn]
    assert len(set(starts)) == 4


@pytest.mark.skipif(
    importlib.util.find_spec("optbench.report.track_plot") is None,
    reason="optbench.report.track_plot (the toy-problem trajectories) is not in this tree",
)
def test_plot_track_shows_every_track_whole(tmp_path, figures):
    from optbench.plan.parser import parse_plan
    from optbench.train.toy import run_toy

    plans = ["SGD(lr=0.001)", "Adam(lr=0.01)", "DSA"]
    result = invoke("plot", "track", *plans, "--steps", 100, "--out", tmp_path / "t.png")
    assert result.exit_code == 0, result.output
    ax = figures[0].axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for plan in plans:
        run = run_toy(parse_plan(plan), "quadratic", 100, 0)
        assert not run.diverged
        xs, ys = zip(*run.trajectory, strict=True)
        assert x0 <= min(xs) and max(xs) <= x1 and y0 <= min(ys) and max(ys) <= y1, plan
    tracks = {line.get_label(): line for line in ax.get_lines() if line.get_label() in plans}
    # SGD at the edge of stability oscillates in place: drawn first, thin and translucent
    sgd = tracks["SGD(lr=0.001)"]
    assert sgd.get_zorder() < min(t.get_zorder() for k, t in tracks.items() if k != plans[0])
    assert sgd.get_alpha() < 1 and sgd.get_linewidth() < 1
