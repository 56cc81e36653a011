"""Evals: presets run over a set of cases, checked, with figures honest about chance."""
