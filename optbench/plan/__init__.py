"""Plan text -> frozen Plan dataclasses -> canonical text. Standard library only."""
