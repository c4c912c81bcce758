"""Hiding secrets in messages without garbling the rest of the message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.live.errors import ANYWHERE_FROM
from reconciler.live.errors import MIN_SECRET
from reconciler.live.errors import scrub

DOMAIN = "cannot reach partner.example.com: refused"


def test_a_short_secret_inside_a_word_leaves_the_word_alone() -> None:
    assert scrub(DOMAIN, "xam") == DOMAIN
    assert scrub(DOMAIN, "x") == DOMAIN  # below the minimum: never a credential


def test_a_short_secret_on_its_own_is_hidden() -> None:
    assert scrub("client_secret=s3cr3t&scope=x", "s3cr3t") == "client_secret=<hidden>&scope=x"
    assert scrub("secret s3cr3t refused", "s3cr3t") == "secret <hidden> refused"


def test_a_long_secret_is_hidden_even_glued_to_other_text() -> None:
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOi"
    assert scrub(f"Bearer{token}x and {token}", token) == "Bearer<hidden>x and <hidden>"


def test_a_secret_that_holds_another_is_hidden_whole() -> None:
    # The longer first: hiding the shorter inside it would leave the rest of it showing.
    inner, outer = "abcdefghijkl", "abcdefghijkl-and-more"
    assert scrub(f"{outer} {inner}", inner, outer) == "<hidden> <hidden>"


@given(
    secret=st.text(min_size=ANYWHERE_FROM, max_size=40).filter(str.strip),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_a_long_secret_never_survives(secret: str, before: str, after: str) -> None:
    assert secret not in scrub(before + secret + after, secret)


@given(
    secret=st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=MIN_SECRET, max_size=8),
    words=st.lists(st.text("abcdefghijklmnopqrstuvwxyz.-", min_size=1, max_size=12), max_size=6),
)
def test_a_short_secret_as_a_word_is_hidden_and_other_words_kept(
    secret: str, words: list[str]
) -> None:
    text = " ".join([*words, secret])
    shown = scrub(text, secret).split(" ")
    assert shown[-1] == "<hidden>"
    kept = [w for w in words if w != secret]
    assert [w for w in shown[:-1] if w != "<hidden>"] == kept
