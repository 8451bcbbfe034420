"""The command line, end to end through Typer's CliRunner."""

from __future__ import annotations

import pytest
from conftest import cli_commands
from typer.testing import CliRunner

from optbench.cli.app import app

runner = CliRunner()


def invoke(*args, **kw):
    return runner.invoke(app, list(args), catch_exceptions=False, **kw)


def test_help_imports_no_heavy_library(loaded_after):
    assert loaded_after("from optbench.cli.app import app\napp(['--help'])") == []


def test_the_commands_are_read_from_the_app():
    commands = cli_commands()
    assert ["run"] in commands and ["baseline", "save"] in commands and ["db"] not in commands
    assert len(commands) >= 15


@pytest.mark.parametrize("command", cli_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example: optbench" in result.output


def test_show_prints_the_yn_table():
    result = invoke("show", "SGD | (Adam+d) | SGD")
    assert result.exit_code == 0
    rows = {
        line.split("│")[1].strip(): line
        for line in result.output.splitlines()
        if line.count("│") >= 5 and line.split("│")[1].strip() in ("SGD", "Adam", "d")
    }
    assert set(rows) == {"SGD", "Adam", "d"}
    cells = {k: [c.strip() for c in v.split("│")[2:-1]] for k, v in rows.items()}
    assert cells == {"SGD": ["GE", "Y", "N", "Y"], "Adam": ["GE", "N", "Y", "N"],
                     "d": ["LR", "N", "Y", "N"]}  # fmt: skip


def test_show_an_unclosed_parenthesis_exits_2_with_a_caret():
    result = invoke("show", "SGD | (Adam+d | SGD")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: expected ')'")
    assert lines[1] == "    SGD | (Adam+d | SGD"
    assert lines[2] == "          ^"


def test_show_a_misspelt_method_suggests_the_right_one():
    result = invoke("show", "SGD | Adma")
    assert result.exit_code == 2
    assert "'Adam'" in result.output
    assert "Traceback" not in result.output


PLAN = """\
experiment: cli-test
tasks: [digits-mlp]
epochs: 2
batch_size: 64
seeds: 2
plans:
  - SGD | SGD
  - Adam
"""


def test_run_then_run_again_trains_nothing_and_compare_ranks(tmp_path):
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    first = invoke("run", str(plan_file), "--db", db, "--device", "cpu")
    assert first.exit_code == 0, first.output
    assert "4 runs to train, 0 already stored" in first.output
    second = invoke("run", str(plan_file), "--db", db, "--device", "cpu", "--seeds", "2")
    assert second.exit_code == 0
    assert "0 runs to train, 4 already stored" in second.output
    more = invoke("run", str(plan_file), "--db", db, "--device", "cpu", "--dry-run", "--seeds", "3")
    assert "2 of 6 runs to train" in more.output
    compared = invoke("compare", "--db", db)
    assert compared.exit_code == 0
    assert "SGD | SGD" in compared.output and "Adam" in compared.output
    assert "digits-mlp" in compared.output


def test_a_bad_plan_file_exits_2_and_writes_nothing(tmp_path):
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN.replace("- Adam", "- Adma"))
    db_path = tmp_path / "r.db"
    result = invoke("run", str(plan_file), "--db", f"sqlite:///{db_path}")
    assert result.exit_code == 2
    assert "plan.yaml:" in result.output and "'Adam'" in result.output
    assert not db_path.exists()


def test_an_unknown_task_exits_2(tmp_path):
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN)
    result = invoke(
        "run", str(plan_file), "--task", "digits-mpl", "--db", f"sqlite:///{tmp_path}/r.db"
    )
    assert result.exit_code == 2
    assert "digits-mlp" in result.output


def test_cuda_on_a_machine_without_it_exits_2(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN)
    result = invoke("run", str(plan_file), "--device", "cuda", "--db", f"sqlite:///{tmp_path}/r.db")
    assert result.exit_code == 2
    assert "no CUDA device" in result.output


def test_a_dry_run_does_not_load_torch(tmp_path, loaded_after):
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN)
    args = ["run", str(plan_file), "--dry-run", "--db", str(tmp_path / "r.db")]
    code = f"from optbench.cli.app import app\napp({args!r})"
    assert loaded_after(code, names=("torch",)) == []


def test_threads_sets_torchs_cpu_threads(tmp_path):
    import torch

    before = torch.get_num_threads()
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN.replace("seeds: 2", "seeds: 1"))
    try:
        result = invoke("run", str(plan_file), "--db", f"sqlite:///{tmp_path}/r.db",
                        "--device", "cpu", "--threads", "1")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_ctrl_c_keeps_finished_runs_and_the_next_run_goes_on(tmp_path, monkeypatch):
    import optbench.train.engine as engine
    from optbench.store.engine import open_store

    real, calls = engine.train_pass, []

    def interrupted_on_the_second_run(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    monkeypatch.setattr(engine, "train_pass", interrupted_on_the_second_run)
    result = invoke("run", str(plan_file), "--db", db, "--device", "cpu")
    assert result.exit_code == 130
    assert "interrupted" in result.output
    store = open_store(db)
    # the first pass (two stacked seeds) finished, the second was interrupted
    statuses = sorted(r["status"] for r in store.run_rows(status=None))
    assert statuses == ["done", "done", "interrupted", "interrupted"]
    store.close()
    monkeypatch.setattr(engine, "train_pass", real)
    again = invoke("run", str(plan_file), "--db", db, "--device", "cpu")
    assert "2 runs to train, 2 already stored" in again.output


def test_ctrl_c_pressed_again_during_the_cleanup_is_ignored(tmp_path):
    """Presses after the first Ctrl-C never cut its cleanup short: the command still
    marks its runs interrupted and ends with one line and exit 130, whenever they come."""
    import signal
    import subprocess
    import sys
    import time

    from optbench.store.engine import open_store

    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN.replace("epochs: 2", "epochs: 3000"))
    db = f"sqlite:///{tmp_path / 'r.db'}"
    command = [sys.executable, "-m", "optbench", "run", str(plan_file), "--db", db,
               "--device", "cpu"]  # fmt: skip

    def like_a_terminal() -> None:  # whatever disposition this test inherited
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=like_a_terminal)  # fmt: skip
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "training  digits-mlp" in line:
            break
    time.sleep(1)
    while proc.poll() is None:  # a key held down: Ctrl-C every 2 ms until the command ends
        proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
    output = "".join(lines) + proc.stdout.read()
    assert proc.returncode == 130, output
    assert "interrupted: finished epochs and runs are stored" in output
    assert "Traceback" not in output and "error" not in output, output
    store = open_store(db)
    assert {r["status"] for r in store.run_rows(status=None)} == {"interrupted", "pending"}
    store.close()


def test_show_keeps_parameter_groups_in_the_yn_rows():
    result = invoke("show", "Adam[hidden] + SGD[output] | SGD")
    assert result.exit_code == 0
    assert "Adam[hidden]" in result.output and "SGD[output]" in result.output
