"""The normalised text that conditions compare (MISSION M7: case-insensitive, Unicode-normalised).

`normalize` gives the comparison form of a short value. A message body can be long, and most operators
look at only part of it ("starts with", "is equal to", "matches" over its first characters), so `LongText`
normalises a body on demand, from the front or from the back, a stretch at a time.

Normalising stretches separately gives exactly the text normalising the whole would give, because every
stretch is cut just before an ASCII white-space character: case folding works character by character,
NFKC never combines an ASCII character with the one before it, and white space collapses the same way on
both sides of a cut that falls on white space.
"""

from __future__ import annotations

import unicodedata

import regex

FIRST_STRETCH = 64  # characters normalised first; each further stretch is as long as all before it
_CUT = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"  # the ASCII white-space characters (str.isspace)
_NEXT_CUT = regex.compile(_CUT)
_PREVIOUS_CUT = regex.compile(_CUT, regex.REVERSE)


def normalize(text: str) -> str:
    """Case-insensitive, compatibility-normalised form of `text` (so "ＡＢＣ", "ABC" and "abc" agree),
    with runs of white space (line breaks included) collapsed to one space and trimmed."""
    if text.isascii():  # the common case, and NFKC leaves ASCII alone
        return " ".join(text.lower().split())
    # casefold then NFKC: full-width and ligature forms fold too ("Ａ" -> "ａ" -> "a"). NFKC can give back
    # capitals ("𝐀" and "ℌ" become "A" and "H"), so what it changed is case-folded once more: the
    # result never holds an upper-case letter, whatever the script of the source.
    folded = text.casefold()
    if not unicodedata.is_normalized("NFKC", folded):
        folded = unicodedata.normalize("NFKC", folded).casefold()
    return " ".join(folded.split())


class LongText:
    """`normalize(raw)`, computed only as far as an operator needs it."""

    __slots__ = ("_raw", "_head", "_head_end", "_tail", "_tail_start")

    def __init__(self, raw: str) -> None:
        self._raw = raw
        self._head = ""  # normalize(raw[:_head_end])
        self._head_end = 0
        self._tail = ""  # normalize(raw[_tail_start:])
        self._tail_start = len(raw)

    def head(self, length: int) -> str:
        """A prefix of the normalised text at least `length` characters long, or all of it."""
        while len(self._head) < length and self._extend_head(length - len(self._head)):
            pass
        return self._head

    def tail(self, length: int) -> str:
        """A suffix of the normalised text at least `length` characters long, or all of it."""
        while len(self._tail) < length and self._extend_tail(length - len(self._tail)):
            pass
        return self._tail

    def present(self) -> bool:
        return bool(self.head(1))

    def starts_with(self, wanted: str) -> bool:
        return self.head(len(wanted)).startswith(wanted)

    def ends_with(self, wanted: str) -> bool:
        return self.tail(len(wanted)).endswith(wanted)

    def equals(self, wanted: str) -> bool:
        # A prefix longer than `wanted` cannot equal it; a shorter one is the whole text.
        return self.head(len(wanted) + 1) == wanted

    def any_of(self, choices: frozenset[str], longest: int) -> bool:
        return self.head(longest + 1) in choices

    def contains(self, wanted: str) -> bool:
        start = 0
        while self._head.find(wanted, start) < 0:
            searched = len(self._head)
            if not self._extend_head():
                return False
            start = max(0, searched - len(wanted) + 1)  # a match may straddle the old end
        return True

    def _extend_head(self, wanted: int = 0) -> bool:
        """Normalise the next stretch onto the prefix — about `wanted` more characters, at least as many
        as before; False when there is none left."""
        raw, end = self._raw, self._head_end
        if end >= len(raw):
            return False
        cut = _next_cut(raw, end + max(FIRST_STRETCH, end, wanted))
        piece = normalize(raw[end:cut])
        if piece:
            self._head = f"{self._head} {piece}" if self._head else piece
        self._head_end = cut
        return True

    def _extend_tail(self, wanted: int = 0) -> bool:
        raw, start = self._raw, self._tail_start
        if start <= 0:
            return False
        cut = _previous_cut(raw, start - max(FIRST_STRETCH, len(raw) - start, wanted))
        piece = normalize(raw[cut:start])
        if piece:
            self._tail = f"{piece} {self._tail}" if self._tail else piece
        self._tail_start = cut
        return True


def _next_cut(raw: str, position: int) -> int:
    """The first cut at or after `position` (a space, usually; any ASCII white space will do), or the end."""
    cut = raw.find(" ", position)
    if cut < 0:
        found = _NEXT_CUT.search(raw, position)
        cut = found.start() if found else len(raw)
    return cut


def _previous_cut(raw: str, position: int) -> int:
    """The last cut at or before `position`, or the start."""
    if position <= 0:
        return 0
    cut = raw.rfind(" ", 0, position + 1)
    if cut < 0:
        found = _PREVIOUS_CUT.search(raw, 0, position + 1)
        cut = found.start() if found else 0
    return cut
