"""Generating names: constraints as automata, exact constrained sampling, top-k search."""
