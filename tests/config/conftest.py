"""Fixtures shared by the configuration tests: the shipped templates, a bot home written
from them, and small edits of dotenv text (set, drop or add one key)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tbot.config.loader import template_text

REPO_ROOT = Path(__file__).resolve().parents[2]

WriteHome = Callable[..., Path]
EditText = Callable[[str, str, str], str]
DropKey = Callable[[str, str], str]


def _key_line(key: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(key)}=.*$", re.MULTILINE)


@pytest.fixture
def template_env_text() -> str:
    """The shipped `.env.template`."""
    return template_text(".env")


@pytest.fixture
def template_bot_text() -> str:
    """The shipped `.env_bot.template`."""
    return template_text(".env_bot")


@pytest.fixture
def version_tag() -> str:
    """The tag VERSION.md declares (the installed package's tag, once it is installed)."""
    text = (REPO_ROOT / "VERSION.md").read_text(encoding="utf-8")
    match = re.search(r"^Current version: (v\S+)", text, re.MULTILINE)
    assert match, "VERSION.md has no 'Current version:' line"
    return match[1]


@pytest.fixture
def write_home(template_env_text: str, template_bot_text: str) -> WriteHome:
    """Write a bot home: `write_home(root, env_text=..., bot_text=...)` returns `root`.

    Each text defaults to its template; pass None to leave that file out.
    """

    def write(
        root: Path,
        *,
        env_text: str | None = template_env_text,
        bot_text: str | None = template_bot_text,
    ) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        if env_text is not None:
            (root / ".env").write_text(env_text, encoding="utf-8")
        if bot_text is not None:
            (root / ".env_bot").write_text(bot_text, encoding="utf-8")
        return root

    return write


@pytest.fixture
def set_value() -> EditText:
    """`set_value(text, KEY, value)`: `text` with KEY's line now ``KEY=value``."""

    def edit(text: str, key: str, value: str) -> str:
        edited, count = _key_line(key).subn(f"{key}={value}".replace("\\", "\\\\"), text)
        assert count == 1, f"{key} should appear exactly once in the text"
        return edited

    return edit


@pytest.fixture
def drop_key() -> DropKey:
    """`drop_key(text, KEY)`: `text` without KEY's line."""

    def edit(text: str, key: str) -> str:
        edited, count = _key_line(key).subn("", text)
        assert count == 1, f"{key} should appear exactly once in the text"
        return edited

    return edit
