"""Tasks: a dataset read from local files, as tensors on the device, and a model."""
