"""optbench: benchmark deep-learning optimizer schedules written as plans."""

__version__ = "0.1.0"
