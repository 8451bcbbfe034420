"""Dataset loaders: each reads one real on-disk format into an in-memory ``Split``."""
