"""Benchmarks: every figure is a ratio to an anchor measured in the same run (`make bench`)."""
