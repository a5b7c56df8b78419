"""Hardware sweeps: specs, a resumable SQLite store, in-process or Dask execution with trace reuse."""
