"""The ML engineer's pages: iterations, jobs, model versions, metrics and signals."""
