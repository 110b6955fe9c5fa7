"""Address headers: the fast path for plain shapes (`_simple_addresses`) must give exactly what the
standard library's getaddresses gives, and leave every other shape to it."""

from __future__ import annotations

from email.utils import getaddresses

from hypothesis import given
from hypothesis import strategies as st

from postroom.messages.parse import _simple_addresses, parse
from tests.mailbuilder import build

LOCAL = st.from_regex(r"[a-zA-Z0-9_%+-]{1,5}(\.[a-zA-Z0-9_%+-]{1,4}){0,2}", fullmatch=True)
DOMAIN = st.from_regex(r"[a-zA-Z0-9-]{1,6}(\.[a-zA-Z0-9-]{1,4}){0,2}", fullmatch=True)
BLANKS = st.sampled_from(["", " ", "  ", "\t", " \t "])
WORD = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9'_-]{0,5}", fullmatch=True)
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", LOCAL, DOMAIN)
NAMED = st.builds(
    lambda words, gap, address, before, after: f"{before}{gap.join(words)}{gap}<{address}>{after}",
    st.lists(WORD, min_size=0, max_size=3),
    st.sampled_from([" ", "  ", "\t"]),
    ADDRESS,
    BLANKS,
    BLANKS,
)
BARE = st.builds(lambda address, before, after: f"{before}{address}{after}", ADDRESS, BLANKS, BLANKS)
PLAIN_TEXT = st.lists(st.one_of(NAMED, BARE), min_size=1, max_size=3).map(",".join)
# What turns a plain shape into another one: quotes, comments, groups, routes, encoded words, escapes,
# dots in names, empty pieces, characters beyond ASCII.
JUNK = st.sampled_from([*'"()\\;:.,@<>=?[]', "=?utf-8?q?x?=", "é", " ,", ",,"])


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    text: str = draw(PLAIN_TEXT)
    at = draw(st.integers(0, len(text)))
    junk: str = draw(JUNK)
    return text[:at] + junk + text[at:]


@given(st.lists(st.one_of(PLAIN_TEXT, near_misses()), min_size=1, max_size=3))
def test_the_fast_path_gives_what_getaddresses_gives_or_leaves_the_text_to_it(texts: list[str]) -> None:
    simple = _simple_addresses(texts)
    if simple is not None:
        assert simple == getaddresses(texts)


@given(st.lists(PLAIN_TEXT, min_size=1, max_size=3))
def test_the_fast_path_takes_every_plain_shape(texts: list[str]) -> None:
    assert _simple_addresses(texts) == getaddresses(texts)


def test_other_shapes_go_to_getaddresses() -> None:
    for text in ['"Lee, Ann" <ann@x.example>', "ann@x.example (Ann)", "=?utf-8?q?Ann?= <ann@x.example>"]:
        assert _simple_addresses([text]) is None, text
    parsed = parse(build(sender='"Lee, Ann" <Ann@X.example>', to="Bob <bob@y.example>, c@z.example"))
    assert (parsed.from_name, parsed.from_address) == ("Lee, Ann", "ann@x.example")
    assert parsed.to == [("Bob", "bob@y.example"), ("", "c@z.example")]
