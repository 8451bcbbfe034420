"""Training: one (plan, task, seed, config) run -> a plain RunRecord."""
