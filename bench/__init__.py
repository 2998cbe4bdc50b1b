"""Benchmarks: `./dev bench` (python -m bench). Each figure is printed beside a baseline
measured in the same run on the same data."""
