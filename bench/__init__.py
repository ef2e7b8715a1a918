"""Benchmarks: ``python -m bench`` (``make bench``) from the repository root."""
