"""Key rotation beside a running engine: `tbot secrets set` (and the other commands that
rewrite keys) work while a real `tbot engine` holds the ledger, the engine writes their
audit rows over its control socket, keeps trading on what it decrypted at start, and takes
the new alert channels on `config.reload`, naming the secrets that need a restart."""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
import time
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import local_operator, open_home
from tbot.admin.config_changes import set_secret_from_file
from tbot.clock import SystemClock
from tbot.config.encrypted_files import pending_key_path
from tbot.config.secret_store import SecretStore
from tests.alerts.servers import webhook
from tests.config.crypto_fixtures import FailAt, InjectedFailure
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import IDENTITY, run_tbot, set_env_key, verify_clean

BEFORE_BREAKOUT = f"{TRADING_DAY}T14:48:00Z"
LEDGER = Path("output") / IDENTITY / "ledgers" / f"{IDENTITY}_BOT_ledger.db"


def _me() -> str:
    uid = os.getuid()
    return f"cli:{pwd.getpwuid(uid).pw_name}(uid={uid})"


def _alert_file(tmp_path: Path, name: str, url: str) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"channels": {"email": [url]}}))
    return path


def _audit(home: Path, action: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{home / LEDGER}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT actor, created_at_utc, subject, details FROM audit_trail "
                          "WHERE action = ? ORDER BY id", (action,)).fetchall()
    return [{"actor": actor, "at": at, "subject": subject, "details": json.loads(details)}
            for actor, at, subject, details in rows]


def _key(home: Path, name: str) -> bytes:
    return (home / "storage" / "keys" / f"{name}.key").read_bytes()


def _posted(hook: Any, text: str) -> bool:
    return any(text in json.dumps(body) for body in hook.bodies())


def _wait_posted(hook: Any, text: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _posted(hook, text):
            return
        time.sleep(0.1)
    raise AssertionError(f"no alert with {text!r} arrived; got {hook.bodies()}")


def test_secrets_set_alert_beside_a_running_engine_is_audited_by_it_and_reloaded_live(
        home: Path, tmp_path: Path, start_engine) -> None:
    with webhook() as old_hook, webhook() as new_hook:
        old = _alert_file(tmp_path, "old", old_hook.url("json", "/old-channel"))
        assert run_tbot("secrets", "set", "alert", "--from-file", old, "--home", home
                        ).returncode == 0
        engine = start_engine(home, "--sim", "--start", BEFORE_BREAKOUT).wait_ready()
        before = engine.call("engine.status")
        alert_key = _key(home, "alert")

        new = _alert_file(tmp_path, "new", new_hook.url("json", "/new-channel"))
        result = run_tbot("secrets", "set", "alert", "--from-file", new, "--home", home,
                          "--json")
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["audited_by"] == "engine" and answer["rotated_keys"] == ["alert"]
        assert _key(home, "alert") != alert_key  # rotated, files re-encrypted
        assert not pending_key_path(home / "storage/keys/alert.key").exists()
        stored = SecretStore(open_home(home).paths).load("alert")
        assert stored["channels"]["email"] == [new_hook.url("json", "/new-channel")]

        # The engine wrote the rows: who (as the kernel names the caller), when, why.
        (rotation,) = [row for row in _audit(home, "keys.rotate")
                       if row["details"].get("recorded_by") == "engine"]
        assert rotation["actor"] == _me() == local_operator()
        assert rotation["at"] and rotation["details"]["at"]
        assert rotation["details"]["command"] == "tbot secrets set alert"
        assert rotation["details"]["reason"] == "tbot secrets set alert"
        assert rotation["details"]["rotated_keys"] == ["alert"]
        assert rotation["subject"] == "alert"
        (secret_row,) = [row for row in _audit(home, "secrets.set")
                         if row["details"].get("recorded_by") == "engine"]
        assert secret_row["subject"] == "alert" and secret_row["actor"] == _me()
        (control,) = _audit(home, "control.keys.rotated")
        assert control["details"]["outcome"] == "ok"
        assert "new-channel" not in json.dumps(_audit(home, "keys.rotate"))

        # Still running, on what it decrypted at start: a halt goes to the old channel.
        after = engine.wait_until(lambda s: s["clock"] != before["clock"], 30, "time to pass")
        assert after["engine_state"] == before["engine_state"]
        engine.call("risk.kill", {"reason": "before-reload-halt"})
        _wait_posted(old_hook, "before-reload-halt")
        engine.call("risk.reset")

        reloaded = engine.call("config.reload")
        assert reloaded["reloaded"] is True
        assert reloaded["secrets"] == {"applied": ["alert"], "restart_needed": {}}
        engine.call("risk.kill", {"reason": "after-reload-halt"})
        _wait_posted(new_hook, "after-reload-halt")
        assert not _posted(old_hook, "after-reload-halt")
        assert not _posted(new_hook, "before-reload-halt")
        # A second reload has nothing new to apply.
        assert "secrets" not in engine.call("config.reload")
        assert engine.terminate() == 0, engine.output()
    assert "new-channel" not in engine.output() and "old-channel" not in engine.output()
    verify_clean(home)


def test_config_encrypt_and_keys_rotate_beside_the_engine_and_secrets_that_need_a_restart(
        home: Path, tmp_path: Path, start_engine) -> None:
    engine = start_engine(home, "--sim", "--start", BEFORE_BREAKOUT).wait_ready()
    assert run_tbot("config", "encrypt", "--home", home).returncode == 0
    assert run_tbot("keys", "rotate", "--home", home).returncode == 0
    screener = tmp_path / "screener.json"
    screener.write_text(json.dumps({"FINNHUB_API_KEY": "fh-rotated"}))
    assert run_tbot("secrets", "set", "screener_api", "--from-file", screener, "--home", home
                    ).returncode == 0
    assert run_tbot("config", "decrypt", "--force", "--home", home).returncode == 0

    commands = [row["details"]["command"] for row in _audit(home, "keys.rotate")
                if row["details"].get("recorded_by") == "engine"]
    assert commands == ["tbot config encrypt", "tbot keys rotate",
                        "tbot secrets set screener_api"]
    assert [row["details"]["recorded_by"] for row in _audit(home, "config.decrypt")] == ["engine"]

    reloaded = engine.call("config.reload")  # the config now opens with a new env key
    assert reloaded["secrets"]["applied"] == []
    assert list(reloaded["secrets"]["restart_needed"]) == ["screener_api"]
    assert "restart" in reloaded["secrets"]["restart_needed"]["screener_api"]
    # Still waiting for a restart: named again by the next reload.
    assert list(engine.call("config.reload")["secrets"]["restart_needed"]) == ["screener_api"]
    assert engine.call("engine.status")["engine_state"]
    assert engine.terminate() == 0, engine.output()
    verify_clean(home)


def test_an_interrupted_rotation_beside_the_engine_still_decrypts_and_is_audited(
        home: Path, tmp_path: Path, start_engine) -> None:
    with webhook() as hook:
        engine = start_engine(home, "--sim", "--start", BEFORE_BREAKOUT).wait_ready()
        bot = open_home(home)
        source = _alert_file(tmp_path, "alert", hook.url("json", "/half-way"))
        crash = FailAt(2)  # pending key written, the secret re-encrypted with it, not promoted
        try:
            set_secret_from_file(bot, SystemClock(), "alert", source, actor=local_operator(),
                                 before_replace=crash)
        except InjectedFailure:
            pass
        else:
            raise AssertionError("the injected failure did not happen")
        assert pending_key_path(bot.paths.key_file("alert")).exists()
        assert SecretStore(bot.paths).load("alert")["channels"]["email"] == [
            hook.url("json", "/half-way")]  # opens with the pending key
        (interrupted,) = _audit(home, "keys.rotate_interrupted")
        assert interrupted["actor"] == _me()
        assert interrupted["details"]["recorded_by"] == "engine"
        assert "injected failure" in interrupted["details"]["error"]

        # The engine started without alert channels: the reload gives it the new ones.
        reloaded = engine.call("config.reload")
        assert reloaded["secrets"]["applied"] == ["alert"]
        assert not reloaded["secrets"]["restart_needed"]

        # The next rotation finishes the interrupted one first.
        assert run_tbot("keys", "rotate", "--home", home).returncode == 0
        assert not pending_key_path(bot.paths.key_file("alert")).exists()
        (rotation,) = [row for row in _audit(home, "keys.rotate")
                       if row["details"].get("command") == "tbot keys rotate"]
        assert rotation["details"]["finished_interrupted"] == ["alert"]
        assert engine.terminate() == 0, engine.output()
    verify_clean(home)


def test_rotation_is_refused_before_any_change_when_the_engine_would_not_record_it(
        home: Path, tmp_path: Path, start_engine) -> None:
    set_env_key(home, "CONTROL_ROLES", "@owner=operator")  # no admin: no keys.rotated
    engine = start_engine(home, "--sim", "--start", BEFORE_BREAKOUT).wait_ready()
    keys = {name: _key(home, name) for name in ("alert", "env", "broker")}
    source = _alert_file(tmp_path, "alert", "json://127.0.0.1:9/never")
    result = run_tbot("secrets", "set", "alert", "--from-file", source, "--home", home)
    assert result.returncode == 2
    assert "admin" in result.stderr and "Nothing was changed" in result.stderr
    assert {name: _key(home, name) for name in keys} == keys
    assert not (home / "storage/secrets/alert_channels.json.enc").exists()
    assert not (home / "storage/backups/keys").exists()
    assert _audit(home, "keys.rotate") == [] or all(
        row["details"].get("recorded_by") != "engine" for row in _audit(home, "keys.rotate"))
    assert engine.terminate() == 0, engine.output()
