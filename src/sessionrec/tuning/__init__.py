"""Hyper-parameter tuning on the validation split: search spaces and Optuna studies."""

from sessionrec.tuning.space import Choice, FloatRange, IntRange, SearchSpace

__all__ = ["Choice", "FloatRange", "IntRange", "SearchSpace"]
