"""Benchmarks: each figure an issue names, measured against its named baseline in the same run."""
