"""[DSA]'s UCI tables CAR and AGARICUS: small files written in the repository's formats,
the encodings, the paper's hold-out split, broken files, and ``optbench data fetch``."""

from __future__ import annotations

import io
import itertools
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from optbench.cli.app import app
from optbench.errors import DataMissing
from optbench.tasks.data import holdout_indices
from optbench.tasks.datasets import files
from optbench.tasks.datasets.uci import (
    AGARICUS_TABLE,
    CAR_TABLE,
    encode,
    load_agaricus,
    load_car,
)
from optbench.tasks.registry import build_loader, build_model, get_task

runner = CliRunner()

# Lines as car.data writes them: buying, maint, doors, persons, lug_boot, safety, class.
CAR_LINES = [
    ",".join(values)
    for values in itertools.islice(
        itertools.product(
            ("vhigh", "low"), ("high", "med"), ("2", "5more"), ("4", "more"), ("small", "big"),
            ("low", "high"),
        ),
        24,
    )
]  # fmt: skip
CAR_CLASSES = ["unacc", "acc", "good", "vgood"]
# The first lines of agaricus-lepiota.data, and one with a missing stalk-root ("?").
AGARICUS_LINES = [
    "p,x,s,n,t,p,f,c,n,k,e,e,s,s,w,w,p,w,o,p,k,s,u",
    "e,x,s,y,t,a,f,c,b,k,e,c,s,s,w,w,p,w,o,p,n,n,g",
    "e,b,s,w,t,l,f,c,b,n,e,c,s,s,w,w,p,w,o,p,n,n,m",
    "p,x,y,w,t,p,f,c,n,n,e,e,s,s,w,w,p,w,o,p,k,s,u",
    "e,x,s,g,f,n,f,w,b,k,t,e,s,s,w,w,p,w,o,e,n,a,g",
    "e,k,y,n,f,n,f,c,n,w,e,?,k,y,w,n,p,w,o,e,w,v,l",
]


@pytest.fixture(autouse=True)
def _no_env_data_root(monkeypatch):
    monkeypatch.delenv("OPTBENCH_DATA", raising=False)


def write_car(root: Path, lines: list[str] | None = None) -> Path:
    if lines is None:
        lines = [f"{line},{CAR_CLASSES[i % 4]}" for i, line in enumerate(CAR_LINES)]
    path = root / "car" / "car.data"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n\n", encoding="ascii")  # UCI files end in a blank line
    return path


def write_agaricus(root: Path, lines: list[str] = AGARICUS_LINES) -> Path:
    path = root / "mushroom" / "agaricus-lepiota.data"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def test_car_ranks_every_attribute_and_splits_like_the_paper(tmp_path):
    write_car(tmp_path)
    split = load_car(tmp_path)
    assert split.num_classes == 4 and split.x_train.dtype == torch.float32
    assert split.x_train.shape == (19, 6) and split.x_val.shape == (5, 6)  # ceil(0.2 * 24)
    train, test = holdout_indices(24)
    labels = torch.tensor([i % 4 for i in range(24)])
    assert torch.equal(split.y_val, labels[test]) and torch.equal(split.y_train, labels[train])
    # vhigh,high,2,4,small,low -> ranks 3/3, 2/3, 0/3, 1/2, 0/2, 0/2
    first = torch.cat([split.x_train, split.x_val])[np.argsort(np.r_[train, test])][0]
    assert first.tolist() == pytest.approx([1.0, 2 / 3, 0.0, 0.5, 0.0, 0.0])
    assert split.x_train.min() >= 0 and split.x_train.max() <= 1


def test_agaricus_one_hot_has_a_column_per_value_present_and_none_for_missing(tmp_path):
    write_agaricus(tmp_path)
    split = load_agaricus(tmp_path)
    x = torch.cat([split.x_train, split.x_val])
    present = [len({line.split(",")[1:][j] for line in AGARICUS_LINES} - {"?"}) for j in range(22)]
    assert split.num_classes == 2 and x.shape == (6, sum(present))
    assert set(x.unique().tolist()) == {0.0, 1.0}
    ones = sorted(x.sum(dim=1).tolist())
    assert ones == [21.0] + [22.0] * 5  # one value per attribute; "?" sets none
    y = torch.cat([split.y_train, split.y_val]).sort().values
    assert y.tolist() == [0, 0, 0, 0, 1, 1]  # e, p


def test_agaricus_columns_follow_the_documented_value_order():
    rows = [line.split(",")[1:] for line in AGARICUS_LINES]
    x = encode(rows, AGARICUS_TABLE)
    # cap-shape: documented order b, c, x, f, k, s; present: x, b, k -> columns b, x, k
    assert x[:, :3].tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_encodings_give_the_papers_attribute_counts_for_every_value():
    """[DSA] Table 3: CAR has 6 attributes; AGARICUS 116 on the real file, whose values
    are all documented ones but for gill-attachment d/n, gill-spacing d, stalk-root u/z,
    veil-type u and ring-type c/s/z, which never occur, and the missing "?"."""
    assert len(CAR_TABLE.attributes) == 6
    never = {"gill-attachment": 2, "gill-spacing": 1, "stalk-root": 2, "veil-type": 1,
             "ring-type": 3}  # fmt: skip
    occurring = sum(len(v) - never.get(name, 0) for name, v in AGARICUS_TABLE.attributes)
    assert occurring == 116


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        (lambda text: text[: text.rindex(",")], "6 of 7 fields"),  # cut mid-line
        (lambda text: text.replace("vhigh", "huge", 1), "buying cannot be 'huge'"),
        (lambda text: text.replace("unacc", "fine", 1), "unknown class 'fine'"),
        (lambda text: "", "no rows"),
    ],
)
def test_a_truncated_or_corrupt_car_file_is_one_line_naming_the_file(tmp_path, broken, says):
    path = write_car(tmp_path)
    path.write_text(broken(path.read_text().rstrip("\n")))
    with pytest.raises(DataMissing) as error:
        load_car(tmp_path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and says in message
    assert error.value.exit_code == 3


def test_binary_garbage_is_refused(tmp_path):
    path = write_agaricus(tmp_path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(DataMissing, match="not a UCI text file"):
        load_agaricus(tmp_path)


def test_missing_files_name_the_fetch_command(tmp_path):
    for load, name in ((load_car, "car"), (load_agaricus, "agaricus")):
        with pytest.raises(DataMissing) as error:
            load(tmp_path)
        assert f"optbench data fetch {name}" in str(error.value)


def test_the_mlp_task_trains_one_full_batch_step_on_car(tmp_path):
    write_car(tmp_path)
    task = get_task("car-mlp")
    split = build_loader(task)(tmp_path)
    model = build_model(task)(split.input_shape, split.num_classes)
    loss = torch.nn.functional.cross_entropy(model(split.x_train), split.y_train)
    loss.backward()
    assert torch.isfinite(loss) and model.output.weight.grad is not None


def test_optbench_run_on_a_truncated_file_exits_3_with_one_line(tmp_path):
    path = write_car(tmp_path)
    path.write_text(path.read_text()[:100])
    plan = tmp_path / "car.yaml"
    plan.write_text("experiment: car\ntasks: [car-mlp]\nepochs: 1\nplans: [SGD]\n")
    result = runner.invoke(
        app,
        ["run", str(plan), "--data-dir", str(tmp_path), "--db", f"sqlite:///{tmp_path / 'r.db'}"],
    )
    assert result.exit_code == 3, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{path}:" in errors[0] and "truncated or corrupt" in errors[0]
    assert "Traceback" not in result.output


# --- optbench data fetch car | agaricus ----------------------------------------------------


def serve(monkeypatch, text: str) -> list[str]:
    asked: list[str] = []

    def urlopen(url, *args, **kwargs):
        asked.append(url)
        return io.BytesIO(text.encode("ascii"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return asked


def fetch(*args: str):
    return runner.invoke(app, ["data", "fetch", *args], catch_exceptions=False)


def full_car_file() -> str:
    """1,728 well-formed rows, as many as the repository's car.data (classes made up)."""
    values = [v for _, v in CAR_TABLE.attributes]
    rows = [",".join((*combo, "unacc")) for combo in itertools.product(*values)]
    assert len(rows) == CAR_TABLE.rows
    return "\n".join(rows) + "\n"


def test_fetch_car_puts_car_data_where_the_loader_reads_it(monkeypatch, tmp_path):
    asked = serve(monkeypatch, full_car_file())
    result = fetch("car", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert asked == [files.CAR_URL] and asked[0].startswith("https://archive.ics.uci.edu/")
    assert files.CAR.locate(tmp_path) == tmp_path / "car"
    assert [p.name for p in tmp_path.iterdir()] == ["car"]  # no scratch folder left
    assert load_car(tmp_path).x_train.shape == (1382, 6)


def test_fetch_refuses_a_download_that_is_not_the_uci_file(monkeypatch, tmp_path):
    serve(monkeypatch, "<html>moved</html>\n")
    result = fetch("agaricus", "--data-dir", str(tmp_path))
    assert result.exit_code == 3
    line = result.output.strip()
    assert "\n" not in line and "not the UCI file" in line and "1 of 23 fields" in line
    assert list(tmp_path.iterdir()) == []


def test_fetch_refuses_a_short_file(monkeypatch, tmp_path):
    serve(monkeypatch, "\n".join(AGARICUS_LINES) + "\n")
    result = fetch("mushroom", "--data-dir", str(tmp_path))  # the repository's folder name
    assert result.exit_code == 3
    assert "6 rows, not 8124" in result.output
    assert list(tmp_path.iterdir()) == []


def test_fetch_without_a_network_is_one_line(monkeypatch, tmp_path):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    result = fetch("car", "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == [
        f"error: cannot fetch CAR (UCI car evaluation): downloading {files.CAR_URL} failed: "
        "Network is unreachable"
    ]
    assert not (tmp_path / "data").exists()
