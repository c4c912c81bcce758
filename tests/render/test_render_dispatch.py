"""`render` picks the format; `use_color` decides on colour from the stream and environment."""

from __future__ import annotations

import io

import pytest

from reconciler.render import json as json_format
from reconciler.render import markdown
from reconciler.render import render
from reconciler.render import text
from reconciler.render import use_color
from tests.render.plans import small_plan


class FakeStream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def test_dispatch_by_format() -> None:
    plan = small_plan()
    assert render(plan, "json") == json_format.render(plan)
    assert render(plan, "markdown") == markdown.render(plan)
    assert render(plan, "text") == text.render(plan, color=False)
    assert render(plan, "text", color=True) == text.render(plan, color=True)
    assert "\x1b[" in render(plan, "text", color=True)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown plan format 'yaml'"):
        render(small_plan(), "yaml")


def test_colour_on_a_terminal_only() -> None:
    assert use_color(FakeStream(tty=True)) is True
    assert use_color(FakeStream(tty=False)) is False


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(FakeStream(tty=True)) is False


def test_empty_no_color_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "")
    assert use_color(FakeStream(tty=True)) is True


def test_force_color_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert use_color(FakeStream(tty=False)) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(FakeStream(tty=False)) is False


def test_force_color_zero_does_not_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "0")
    assert use_color(FakeStream(tty=False)) is False


def test_closed_stream_gets_no_colour() -> None:
    stream = io.StringIO()
    stream.close()
    assert use_color(stream) is False
