"""Benchmarks, not tests: each script prints Markdown tables and can write its numbers as JSON.

Run them from the repository root as modules (`python -m bench.train_speed ...`) so they import
`bench.*` and `harness.*` without touching sys.path. See bench/README.md.
"""
