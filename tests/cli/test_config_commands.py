"""`tbot config validate|encrypt`: every problem at once, exit 2, no traceback; encryption."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from tests.cli.cli_support import Runner, audit_actions, replace_setting


def test_validate_reports_every_problem_with_exit_2_and_no_traceback(home: Path) -> None:
    replace_setting(home, "LOG_FORMAT", "xml")
    replace_setting(home, "START_TIME_OPEN", "25:99")
    replace_setting(home, "VERSION_TAG", "v9.9.9")
    result = subprocess.run(
        [sys.executable, "-m", "tbot", "config", "validate", "--home", str(home)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for key in ("LOG_FORMAT", "START_TIME_OPEN", "VERSION_TAG"):
        assert key in result.stderr, key
    assert "'xml'" in result.stderr


def test_validate_json_lists_problems(home: Path, run_tbot: Runner) -> None:
    replace_setting(home, "MAX_TRADES", "3")  # WEIGHTS still has four entries
    result = run_tbot("config", "validate", "--home", home, "--json")
    assert result.code == 2
    payload = result.json()
    assert payload["ok"] is False
    assert any(problem["key"] == "WEIGHTS" for problem in payload["problems"])


def test_validate_on_a_directory_that_is_not_a_home_says_so(
    tmp_path: Path, run_tbot: Runner
) -> None:
    result = run_tbot("config", "validate", "--home", tmp_path)
    assert result.code == 2
    assert ".env" in result.err


def test_encrypted_config_is_preferred_over_the_plain_file(home: Path, run_tbot: Runner) -> None:
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    replace_setting(home, "LOG_FORMAT", "xml")  # only the plain file is broken now
    result = run_tbot("config", "validate", "--home", home, "--json")
    assert result.code == 0, result.out
    assert result.json()["bot_config"] == ".env_bot.enc"
    assert result.json()["bot_config_encrypted"] is True


def test_validate_warns_when_the_plain_file_was_edited_after_encryption(
    home: Path, run_tbot: Runner
) -> None:
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    assert (
        run_tbot("config", "validate", "--home", home, "--json").json()["plaintext_differs"]
        is False
    )
    replace_setting(home, "MAX_OPEN_POSITIONS", "3")
    result = run_tbot("config", "validate", "--home", home)
    assert result.code == 0
    assert "differs from .env_bot.enc" in result.out


def test_encrypt_refuses_an_invalid_config_and_writes_nothing(home: Path, run_tbot: Runner) -> None:
    replace_setting(home, "FRACTIONAL", "maybe")
    result = run_tbot("config", "encrypt", "--home", home)
    assert result.code == 2
    assert "FRACTIONAL" in result.err
    assert not (home / ".env_bot.enc").exists()


def test_encrypt_again_keeps_the_previous_file_and_audits(
    home: Path, ledger_path: Path, run_tbot: Runner
) -> None:
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    second = run_tbot("config", "encrypt", "--home", home, "--remove-plaintext", "--json")
    assert second.code == 0
    backup = Path(second.json()["previous_backup"])
    assert backup.exists() and backup.name == ".env_bot.enc"
    assert not (home / ".env_bot").exists()
    assert audit_actions(ledger_path).count("config.encrypt") == 2
    assert run_tbot("config", "validate", "--home", home).code == 0


def test_a_truncated_encrypted_config_is_a_clear_error(home: Path, run_tbot: Runner) -> None:
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    encrypted = home / ".env_bot.enc"
    encrypted.write_bytes(encrypted.read_bytes()[:-40])
    result = run_tbot("config", "validate", "--home", home)
    assert result.code == 2
    assert ".env_bot.enc" in result.err


def test_a_world_readable_env_key_is_refused(home: Path, run_tbot: Runner) -> None:
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    (home / "storage/keys/env.key").chmod(0o644)
    result = run_tbot("config", "validate", "--home", home)
    assert result.code == 2
    assert "env.key" in result.err


def test_decrypt_gives_back_an_editable_plain_file(
    home: Path, ledger_path: Path, run_tbot: Runner
) -> None:
    original = (home / ".env_bot").read_text()
    assert run_tbot("config", "encrypt", "--home", home, "--remove-plaintext").code == 0
    assert run_tbot("config", "decrypt", "--home", home).code == 0
    assert (home / ".env_bot").read_text() == original
    assert stat.S_IMODE((home / ".env_bot").stat().st_mode) == 0o600
    assert "config.decrypt" in audit_actions(ledger_path)


def test_decrypt_does_not_overwrite_an_edited_plain_file_without_force(
    home: Path, run_tbot: Runner
) -> None:
    assert run_tbot("config", "encrypt", "--home", home).code == 0
    replace_setting(home, "MAX_OPEN_POSITIONS", "3")
    edited = (home / ".env_bot").read_text()
    refused = run_tbot("config", "decrypt", "--home", home)
    assert refused.code == 2
    assert (home / ".env_bot").read_text() == edited
    forced = run_tbot("config", "decrypt", "--home", home, "--force", "--json")
    assert forced.code == 0
    assert Path(forced.json()["previous_backup"]).read_text() == edited
    assert "MAX_OPEN_POSITIONS=3" not in (home / ".env_bot").read_text()
