"""Training: one entry point (``trainer``) and the engines it chooses between (memory, streaming,
external, dask)."""
