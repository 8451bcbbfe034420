"""``python -m optbench``: the command line."""

from optbench.cli.app import main

main()
