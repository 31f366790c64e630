"""The error budget (``max_error_rate``): per-entry similarity thresholds learned online.

Each entry starts at ``similarity_threshold`` and learns its own threshold from feedback on
served hits: the ``verifier``'s verdicts on a deterministic sample (``verify_sample``) of
borderline hits, and ``SemanticCache.report_wrong`` from the application. A wrong answer served
at similarity *s* raises that entry's threshold above *s*; the shared threshold is the lowest
one whose observed error rate (an upper confidence bound) stays under ``max_error_rate``.
Without feedback nothing changes: the defaults are offline and deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .query import digest

__all__ = ["ErrorBudget", "sampled"]


def _upper_bound(wrong: int, total: int, z: float = 1.645) -> float:
    """One-sided Wilson upper bound of an error rate (95 %)."""
    if total == 0:
        return 1.0
    p = wrong / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return min(1.0, (centre + spread) / (1 + z * z / total))


@dataclass
class ErrorBudget:
    """Feedback on served hits and the thresholds learned from it (see the module doc).

    ``observations``: ``(similarity, correct)`` of every verdict; ``entry_floor``: per entry
    (its exact key), the highest similarity at which it was served wrongly.
    """

    max_error_rate: float
    base_threshold: float
    observations: list[tuple[float, bool]] = field(default_factory=list)
    entry_floor: dict[str, float] = field(default_factory=dict)
    shared_threshold: float = 0.0
    min_observations: int = 30

    def __post_init__(self) -> None:
        self.shared_threshold = self.base_threshold

    def threshold(self, key: str) -> float:
        """The similarity an entry's question needs to serve now."""
        floor = self.entry_floor.get(key)
        if floor is None:
            return self.shared_threshold
        return max(self.shared_threshold, min(1.0, floor + 1e-6))

    def record(self, key: str, similarity: float, correct: bool) -> None:
        self.observations.append((similarity, correct))
        if len(self.observations) > 10_000:
            del self.observations[:1_000]
        if not correct:
            self.entry_floor[key] = max(similarity, self.entry_floor.get(key, 0.0))
        self._relearn()

    def _relearn(self) -> None:
        """Raise the shared threshold while the error rate observed above it exceeds the
        budget; lower it (never below ``base_threshold - 0.1``) only to where the error rate's
        upper confidence bound is within the budget; else keep ``base_threshold``."""
        seen = sorted(self.observations, reverse=True)
        budget = self.max_error_rate
        wrong = 0
        lowest_safe: float | None = None
        above_base = (0, 0)
        for count, (similarity, correct) in enumerate(seen, start=1):
            wrong += not correct
            if similarity >= self.base_threshold:
                above_base = (count, wrong)
            elif count >= self.min_observations and _upper_bound(wrong, count) <= budget:
                lowest_safe = similarity
        total, errors = above_base
        if total >= 10 and errors / total > budget:
            raised = 1.0
            wrong = 0
            for count, (similarity, correct) in enumerate(seen, start=1):
                wrong += not correct
                if wrong / count <= budget:
                    raised = similarity
                elif similarity < self.base_threshold:
                    break
            self.shared_threshold = max(self.base_threshold, min(1.0, raised + 1e-6))
        elif lowest_safe is not None:
            self.shared_threshold = max(self.base_threshold - 0.1, lowest_safe)
        else:
            self.shared_threshold = self.base_threshold


def sampled(share: float, question: str, key: str) -> bool:
    """Whether this borderline hit is verified: a deterministic ``share`` of them."""
    if share >= 1.0:
        return True
    return int(digest("sample", question, key)[:8], 16) / 0xFFFFFFFF < share
