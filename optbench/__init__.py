"""optbench: benchmark deep-learning optimizer schedules written as plans.

``optbench.load_results(db)`` returns the stored runs and epochs as a pandas DataFrame; it
is imported on first use, so ``import optbench`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_results"]


def __getattr__(name: str) -> Any:
    if name == "load_results":
        from optbench.report.results import load_results

        return load_results
    raise AttributeError(f"module 'optbench' has no attribute {name!r}")
