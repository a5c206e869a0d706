"""Text clean-up shared by the crawlers and the de-duplicator."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
# Leading tags such as [속보], [단독], (종합), 【특징주】 that outlets add to the same story.
_TAGS = re.compile(r"^\s*(?:[\[\(【<][^\]\)】>]{1,12}[\]\)】>]\s*)+")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def clean_text(text: str) -> str:
    """NFC-normalised text with whitespace collapsed to single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text or "")).strip()


def normalize_title(title: str) -> str:
    """A key under which the same headline from different outlets collides: NFKC, leading
    bracket tags dropped, punctuation and spaces removed, lower-cased."""
    t = unicodedata.normalize("NFKC", title or "")
    t = _TAGS.sub("", t)
    return _NON_WORD.sub("", t).lower()
