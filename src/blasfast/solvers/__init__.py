"""Placeholder package: see the open issue for solvers."""
