"""Benchmarks that print figures (never tests): run them all with `make bench`."""
