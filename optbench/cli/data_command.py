"""``optbench data``: datasets that need files, downloaded only when asked (SPEC §4).

A thin Typer sub-app; the download code (``optbench.tasks.datasets.fetch``, torchvision)
is imported inside the command, so ``optbench --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optbench.cli.common import WordsCommand, reports_errors
from optbench.errors import BadInput

data_app = typer.Typer(
    help="Datasets: download the ones that need files, on a machine with a network.",
    no_args_is_help=True,
)


@data_app.command("fetch", cls=WordsCommand)
@reports_errors
def fetch(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="mnist, fashion-mnist, cifar10, cifar100, svhn, imdb, car or agaricus.",
            show_default=False,
        ),
    ],
    data_dir: Annotated[
        str | None,
        typer.Option(
            "--data-dir",
            metavar="DIR",
            envvar="OPTBENCH_DATA",
            help="Folder to put the dataset in; give optbench run the same --data-dir.",
        ),
    ] = None,
) -> None:
    """Download a dataset into DIR in the layout the loaders read (DIR/mnist/,
    DIR/cifar-10-batches-py/, DIR/svhn/, DIR/aclImdb/, DIR/car/, DIR/mushroom/ ...). A
    download that fails leaves nothing behind (exit status 3); digits, iris and wine ship
    with scikit-learn.

    Example: optbench data fetch mnist --data-dir ~/data
    """
    from optbench.tasks.datasets import fetch as fetching

    canonical = fetching.dataset_name(name)
    if data_dir is not None and Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise BadInput(f"--data-dir {data_dir}: a file, not a folder")
    if canonical in fetching.BUNDLED:
        typer.echo(f"{canonical} ships with scikit-learn: nothing to fetch")
        return
    done = fetching.fetch(canonical, data_dir)
    if done.downloaded:
        typer.echo(f"fetched {done.title} into {done.folder}; train with --data-dir {done.root}")
    else:
        typer.echo(f"{done.title} is already in {done.folder}: nothing to fetch")
