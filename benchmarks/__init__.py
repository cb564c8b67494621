"""Benchmarks of the job: ``python -m benchmarks.<name>``."""
