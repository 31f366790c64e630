"""The precision guard (kept importable here): see :mod:`aiocache_llm.semantic.guard`."""

from .semantic.guard import RULES, GuardVerdict, PrecisionGuard, QuestionFeatures, Rule, features

__all__ = ["RULES", "GuardVerdict", "PrecisionGuard", "QuestionFeatures", "Rule", "features"]
