"""Creating a home is all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import tbot.admin.init_home as init_module
from tbot.admin.init_home import HomeExistsError, init_home
from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity

IDENTITY = BotIdentity(ENTITY_CODE="T", JURISDICTION_CODE="US", BROKER_CODE="SIM", BOT_ID="B1")
CLOCK = FrozenClock(datetime(2026, 11, 20, 14, 30, tzinfo=UTC))


def test_a_failure_half_way_leaves_no_half_made_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_ledger(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(init_module, "create_ledger_file", broken_ledger)
    home = tmp_path / "home"
    with pytest.raises(OSError, match="disk full"):
        init_home(home, IDENTITY, CLOCK, actor="test")
    assert list(home.iterdir()) == []
    monkeypatch.undo()
    init_home(home, IDENTITY, CLOCK, actor="test")  # the same target works afterwards
    assert (home / ".env").exists()


def test_an_existing_directory_with_other_files_can_become_a_home(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    bot = init_home(tmp_path, IDENTITY, CLOCK, actor="test")
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert bot.paths.ledger_db.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tbot-init-")]


def test_a_home_is_never_initialised_twice(tmp_path: Path) -> None:
    init_home(tmp_path, IDENTITY, CLOCK, actor="test")
    with pytest.raises(HomeExistsError, match="already a bot home"):
        init_home(tmp_path, IDENTITY, CLOCK, actor="test")
