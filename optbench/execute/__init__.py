"""Running runs: planning specifications, claiming them, executing passes here or on a
cluster, and storing what they report."""
