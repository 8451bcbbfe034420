"""The method catalogue: GE methods, LR methods and stage modifiers."""
