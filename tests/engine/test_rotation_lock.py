"""The home's rotation lock: an engine starting waits for a rotation under way (or stops
with a clear message), a reload never reads half-rotated keys, and a rotation with no way
to write its audit row is refused before it changes anything."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from tbot.admin import config_changes
from tbot.admin.bot_home import local_operator, open_home
from tbot.admin.config_changes import AuditRow, set_secret_from_file
from tbot.admin.key_rotation import rotate_all_keys
from tbot.clock import SystemClock
from tbot.config import key_rotation
from tbot.config.key_rotation import RotationLockedError, rotation_lock
from tbot.control.methods import Caller, NoParams, RpcError
from tbot.control.roles import Role
from tbot.control.wire import REFUSED
from tbot.engine import control_methods
from tbot.engine.control_methods import ControlMethods, KeysRotatedParams
from tbot.engine.engine import Engine, EngineOptions
from tbot.ledger.posting import LedgerWriter
from tests.engine.conftest import TRADING_DAY
from tests.engine.in_process import set_bot_keys

START = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")
OPERATOR = Caller(uid=1001, gid=1001, pid=1, role=Role.OPERATOR, name="olive(uid=1001)")


def _keys(home: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (home / "storage/keys").glob("*.key")}


def _engine(home: Path) -> Engine:
    return Engine(open_home(home), EngineOptions(sim=True, speed=1.0, start=START))


def test_an_engine_starting_during_a_rotation_stops_clearly_and_changes_nothing(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_rotation, "ROTATION_LOCK_WAIT_SECONDS", 0.3)
    before = _keys(home)
    engine = _engine(home)
    with (rotation_lock(open_home(home).paths),
          pytest.raises(RotationLockedError, match="Nothing was changed")):
        engine.start_blocking()
    engine.close_blocking()
    assert _keys(home) == before
    # Nothing held on: the next start goes through.
    again = _engine(home)
    again.start_blocking()
    again.close_blocking()


def test_an_engine_starting_during_a_rotation_waits_for_it(home: Path) -> None:
    paths = open_home(home).paths
    taken = threading.Event()

    def rotation() -> None:
        with rotation_lock(paths):
            taken.set()
            time.sleep(0.5)

    holder = threading.Thread(target=rotation)
    holder.start()
    assert taken.wait(5)
    engine = _engine(home)
    started = time.monotonic()
    try:
        engine.start_blocking()
        assert time.monotonic() - started >= 0.3
    finally:
        engine.close_blocking()
        holder.join()


def test_a_reload_during_a_rotation_is_refused_and_applies_nothing(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control_methods, "RELOAD_LOCK_WAIT_SECONDS", 0.2)
    engine = _engine(home)
    engine.start_blocking()
    try:
        methods = ControlMethods(engine)
        set_bot_keys(home, MAX_OPEN_POSITIONS="3")

        async def reload_while_locked() -> None:
            with rotation_lock(engine.paths), pytest.raises(RpcError) as refused:
                await methods.config_reload(NoParams(), OPERATOR)
            assert refused.value.code == REFUSED
            assert "key rotation is under way" in refused.value.message
            assert engine.bot.MAX_OPEN_POSITIONS != 3
            answer = await methods.config_reload(NoParams(), OPERATOR)  # once it is done
            assert answer == {"reloaded": True, "changed_keys": ["MAX_OPEN_POSITIONS"]}

        asyncio.run(reload_while_locked())
    finally:
        engine.close_blocking()


def test_with_the_writer_lock_taken_and_no_engine_socket_nothing_is_rotated(
        home: Path, tmp_path: Path) -> None:
    bot = open_home(home)
    source = tmp_path / "alert.json"
    source.write_text(json.dumps({"channels": {"email": ["json://127.0.0.1:9/x"]}}))
    before = _keys(home)
    (home / "control").mkdir(exist_ok=True)
    (home / "control" / "engine.sock").write_text("")  # stale: nothing listens
    with LedgerWriter(bot.paths, SystemClock(), bot.backup_policy):  # someone else's lock
        with pytest.raises(config_changes.TbotError) as refused:
            set_secret_from_file(bot, SystemClock(), "alert", source, actor=local_operator())
        with pytest.raises(config_changes.TbotError):
            rotate_all_keys(bot, SystemClock(), actor=local_operator())
    message = str(refused.value)
    assert "already has a writer" in message
    assert "control socket does not answer" in message and "Nothing was changed" in message
    assert _keys(home) == before
    assert not bot.paths.secret_file("alert").exists()
    assert not (home / "storage/backups/keys").exists()


def test_rows_the_engine_did_not_take_are_written_directly_once_the_lock_is_free(
        home: Path) -> None:
    bot = open_home(home)
    route = config_changes._EngineRoute(bot, SystemClock(), home / "control" / "gone.sock",
                                        "cli:someone(uid=1)", "tbot keys rotate")
    route.record([AuditRow("keys.rotate", "all keys", {"reason": "test"})])
    with sqlite3.connect(f"file:{bot.paths.ledger_db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT actor, subject FROM audit_trail WHERE action='keys.rotate'"
                          ).fetchall()
    assert rows == [("cli:someone(uid=1)", "all keys")]


def test_rows_neither_the_engine_nor_the_ledger_took_fail_loudly(home: Path) -> None:
    bot = open_home(home)
    route = config_changes._EngineRoute(bot, SystemClock(), home / "control" / "gone.sock",
                                        "cli:someone(uid=1)", "tbot keys rotate")
    with (LedgerWriter(bot.paths, SystemClock(), bot.backup_policy),
          pytest.raises(config_changes.AuditNotRecordedError) as lost):
        route.record([AuditRow("keys.rotate", "all keys", {"reason": "test"})])
    assert "WAS made" in str(lost.value) and '"keys.rotate"' in str(lost.value)


def test_keys_rotated_takes_only_the_audit_actions_of_those_commands() -> None:
    good = {"command": "tbot secrets set alert", "at": "2026-11-20T14:50:00+00:00",
            "rows": [{"action": "keys.rotate", "subject": "alert", "details": {}}]}
    assert KeysRotatedParams.model_validate(good).rows[0].action == "keys.rotate"
    for bad in (
        {**good, "rows": [{"action": "risk.reset", "subject": "x", "details": {}}]},
        {**good, "rows": []},
        {**good, "at": "2026-11-20T14:50:00"},  # no zone
        {**good, "command": "rm -rf /"},
        {**good, "actor": "someone else"},  # who is the kernel's word, never the CLI's
    ):
        with pytest.raises(ValidationError):
            KeysRotatedParams.model_validate(bad)
