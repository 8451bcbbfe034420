"""``optbench show``: the plan as written, its canonical and stored texts, the optimizer
state at each stage boundary, and, for any text at all, a plan or one error with exit
status 2, quickly."""

from __future__ import annotations

import re

import typer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from optbench.cli import app as cli
from optbench.methods.registry import REGISTRY, STAGE_ENDS

runner = CliRunner(env={"COLUMNS": "200"})  # messages unwrapped
# The show command alone, built once: Typer rebuilds the whole command tree per call.
show_app = typer.Typer(add_completion=False)
show_app.command()(cli.show)


def show(*args: str):
    return runner.invoke(cli.app, ["show", *args], catch_exceptions=False)


def field(output: str, name: str) -> str:
    """The text after ``name`` on the line that starts with it."""
    (line,) = [line for line in output.splitlines() if line.startswith(name + "  ")]
    return line[len(name) + 2 :]


def test_the_plan_prints_as_written_beside_its_canonical_form():
    result = show("SGD(lr=0.1) + warmup + step | Adam")
    assert result.exit_code == 0, result.output
    assert field(result.output, "plan") == "SGD(lr=0.1) + warmup + step | Adam"  # [ANN]'s str+
    assert field(result.output, "canonical") == "(SGD(lr=0.1)+step+warmup) | Adam"
    assert field(result.output, "stored as").startswith("(SGD(lr=0.1, weight_decay=0.0)+step(")


def test_each_stage_boundary_says_whether_the_optimizer_state_carries():
    result = show("(SGD(lr=0.1)+M+avg):80 | (SGD(lr=0.01)+M+avg):40 | Adam:40")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = lines.index("optimizer state at each stage boundary")
    assert lines[at + 1 : at + 3] == [
        "  S1 -> S2  optimizer state carries: SGD lr 0.1 -> 0.01",
        "  S2 -> S3  fresh optimizer: GE method changes: SGD -> Adam",
    ]
    # every stage has a length: the plan's epochs are their sum, without --epochs
    assert field(result.output, "epochs per stage") == "80 | 40 | 40"
    assert "160 epochs" in result.output


def test_one_stage_has_no_boundary():
    result = show("SGD")
    assert result.exit_code == 0
    assert "stage boundary" not in result.output


def test_lengths_that_disagree_with_epochs_are_one_error():
    result = show("(SGD+M):80 | SGD:25%", "--epochs", "100")
    assert result.exit_code == 2
    assert result.output.startswith(
        "error: the stage lengths add up to 105 epochs (80 + 25% = 25), but the plan trains for 100"
    )


def test_a_relation_broken_only_once_resolved_is_one_error_with_a_caret():
    result = show("SGD | Adam + sig")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: sig's low (0.001) must be below its upper bound, the base LR 0.001 of Adam; "
        "lower the low or give sig its own up",
        "    SGD | Adam + sig",
        "                 ~~^",
    ]


def test_epochs_beyond_the_limit_are_refused_by_the_option():
    result = runner.invoke(cli.app, ["show", "SGD", "--epochs", "1000000000"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# --- any text: a plan or one error, exit status 2, in bounded time ----------------------

NAMES = [*REGISTRY, *STAGE_ENDS, "str", "lookahead", "hidden", "output", "fc2.*", "true"]
PIECES = [*NAMES, *"()[]|+:%,=.-'\" ", "0", "1", "0.1", "25%", "80", "1e-3", "9" * 70, "\n"]
plan_like = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
GE = [n for n, s in REGISTRY.items() if s.kind.name == "GE"]
OTHERS = [n for n, s in REGISTRY.items() if s.kind.name != "GE"]
ARGS = ["", "(0.1)", "(lr=0.5)", "(k=3)", "(low=0.0001)", "(1e9)", "(x)", "(lr=0)"]
SUFFIXES = ["", ":2", ":25%", ":plateau", ":plateau(patience=1, max=3)", ":0", ":100%"]
term = st.tuples(st.sampled_from(OTHERS), st.sampled_from(ARGS)).map("".join)
stage = st.tuples(
    st.sampled_from(GE),
    st.sampled_from(ARGS),
    st.lists(term, max_size=2),
    st.sampled_from(SUFFIXES),
).map(lambda p: f"({p[0]}{p[1]}{''.join('+' + t for t in p[2])}){p[3]}")
structured = st.lists(stage, min_size=1, max_size=4).map(" | ".join)
ERROR = re.compile(r"error: \S")


@settings(max_examples=250, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), plan_like, structured))
@example("SGD\n" + "9" * 140)  # a long unexpected token is quoted briefly
@example("SGD(" + "k" * 500 + "=1)")
@example("-0")
def test_show_prints_a_plan_or_one_error_for_any_text(text: str) -> None:
    result = runner.invoke(show_app, ["--", text])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert result.stdout.startswith("plan  ")
        assert result.stderr == ""
    else:
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert ERROR.match(result.stderr), result.stderr
        assert result.stderr.count("error:") == 1
        assert len(result.stderr.splitlines()) <= 3  # the message, the source, the caret


def test_show_and_plan_files_load_no_heavy_library(loaded_after):
    code = "from optbench.cli.app import app\napp(['show', '(SGD(lr=0.1)+M+avgdecay):8 | Adam:2'])"
    assert loaded_after(code) == []
    code = (
        "from optbench.plan.planfile import load_plan_file\nload_plan_file('plans/quickstart.yaml')"
    )
    assert loaded_after(code) == []
