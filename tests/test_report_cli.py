"""The report commands' command line: help that names values by words, the tasks table's
download hints at any width, console output on a legacy encoding, and the gate failing
on a plan that broke."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
from conftest import cli_commands
from results_fixture import CONFIG, D, filled, record, stored
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.report.console import asciify, make_console
from optbench.store.engine import open_store
from optbench.train.config import RunSpec

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.mark.parametrize("command", cli_commands(), ids=" ".join)
def test_help_names_values_by_words_not_types(command):
    result = invoke(*command, "--help", env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert not re.search(r"<[a-z][a-z \[\]]*>", result.output), result.output
    assert "{" not in result.output.split("\n\n", 1)[1]  # no {plan_file} outside the usage


def test_the_tasks_table_names_the_fetch_command_at_80_columns(tmp_path):
    result = invoke("tasks", "--data-dir", tmp_path, env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "missing: mnist" in result.output
    text = " ".join(result.output.split())  # the how-to lines wrap; nothing is cut
    assert "- mnist: run 'optbench data fetch mnist --data-dir DIR', or download the four" in text
    assert "yann.lecun.com/exdb/mnist/" in text and "…" not in result.output


def test_asciify_spells_what_a_legacy_encoding_lacks():
    assert asciify("0.97 ± 0.01 – α = 0.05 → ok") == "0.97 +/- 0.01 - alpha = 0.05 -> ok"
    assert asciify("┏━┳┓┃│└─┴┘ ▁█ é") == "+-++||+-++ _# e"


def test_a_console_on_a_legacy_encoding_writes_ascii():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    console = make_console(file=stream, width=60)
    from optbench.report.catalogue import methods_table

    console.print(methods_table())
    console.print("θ ← θ − 2^η · sign(g)")
    stream.flush()
    text = stream.buffer.getvalue().decode("ascii")
    assert "+--" in text and "theta <- theta - 2^eta . sign(g)" in text


def test_check_fails_on_a_plan_whose_new_runs_all_diverged(tmp_path):
    db = filled(tmp_path / "r.db")
    saved = invoke("baseline", "save", "nightly", "--experiment", "fixture", "--db", db,
                   "--json", tmp_path / "nightly.json")  # fmt: skip
    assert saved.exit_code == 0, saved.output
    assert "diverged or failed" in saved.output
    # the same plan trained since (new seeds): every run diverged
    with open_store(str(db)) as store:
        specs = [RunSpec(stored("Adam"), "digits-mlp", seed, CONFIG) for seed in (10, 11, 12)]
        planned = store.plan_runs("nightly", specs, ["Adam"] * 3)
        store.claim([p.id for p in planned], "t")
        for run, spec in zip(planned, specs, strict=True):
            store.finish_run(run.id, "t", record(spec, D, (0,)))
    result = invoke("check", "--baseline", tmp_path / "nightly.json", "--db", db,
                    "--experiment", "nightly", "--junit", tmp_path / "out.xml",
                    env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "no new run finished: 3 diverged" in result.output
    suite = ET.parse(tmp_path / "out.xml").getroot()
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    # Adam has runs in two configurations: each test case says which
    assert [(c.get("classname"), c.get("name")) for c in failures] == [
        ("digits-mlp", f"Adam [{CONFIG.describe()}]")
    ]
