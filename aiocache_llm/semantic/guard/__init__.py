"""The precision guard: a second check on a semantic hit, after the cosine threshold.

Sentence embeddings score a question and its near-miss as alike as two paraphrases ("convert
100 F to C" / "convert 100 C to F"), so a threshold alone serves wrong answers. The guard
compares what the two questions ask and rejects a candidate when they differ in:

* **numbers** — the multiset of numbers (digits or number words; "one pound" reads as "a pound");
* **units** — which units are the quantity given and which are asked for, so a swapped
  conversion is caught while "5 miles in km" still matches "how many km are in 5 miles";
* **negation** — one question negated and the other not ("not", "n't", "never", "without", ...);
* **contrast words** — one asks with a word whose opposite the other uses (start/end,
  increase/decrease, first/last, buy/sell, max/min, pros/cons, ...);
* **direction** — the same words in another order around "to", "from", "than", ...
  ("convert a string to an int" / "... an int to a string");
* **question kind** — "who" against "where", "when" or "why";
* **a swapped term** — the questions are word for word the same except for a short run of
  content words in the same place on each side ("can dogs eat chocolate" / "can cats ...",
  "capital of France" / "... of Germany"): that run is what is being asked about;
* **names** — each question names someone or something (a capitalised word inside a
  sentence) that the other does not, in any form ("fly from Gatwick" / "flights out of
  Manchester"): names have no synonyms;
* **closed classes** — each names another month, day, season, meal, colour or rank.

Given the two questions' similarity, :meth:`PrecisionGuard.check` reads a swapped term as a
synonym from :data:`SYNONYM_SIMILARITY` (0.96) on ("start" / "begin").

Numbers are compared in every written form (digits, words, Roman numerals), another form of a
word (``roots``: "quotation" / "quote") is the same word, and :meth:`PrecisionGuard.repeats`
tells a misspelt repeat of a question (served below the similarity threshold, down to
:data:`REPEAT_FLOOR`).

The rules are lexical and general (no list of entities) and written for English; in other
languages they find fewer features and reject less. They cost some recall on paraphrases that
swap one word for a synonym. ``benchmarks/bench_semantic.py`` measures both effects.
"""

from .features import QuestionFeatures, features
from .rules import REPEAT_FLOOR, RULES, SYNONYM_SIMILARITY, GuardVerdict, PrecisionGuard, Rule

__all__ = [
    "REPEAT_FLOOR",
    "RULES",
    "SYNONYM_SIMILARITY",
    "GuardVerdict",
    "PrecisionGuard",
    "QuestionFeatures",
    "Rule",
    "features",
    "make_guard",
]


def make_guard(guard: PrecisionGuard | bool | None) -> PrecisionGuard | None:
    """The guard a setting asks for: ``True`` the default one, ``False`` / ``None`` none."""
    if guard is True:
        return PrecisionGuard()
    if guard is False or guard is None:
        return None
    return guard
