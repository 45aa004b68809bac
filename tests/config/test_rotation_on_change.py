"""Changing a secret or `.env_bot.enc` rotates the key that encrypts it, in the same atomic,
backed-up step as `tbot keys rotate`; an interruption at any file operation leaves every
file readable, and recovery either completes the change or leaves the previous state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config.encrypted_files import decrypt_file, read_key, write_encrypted
from tbot.config.key_rotation import RotationError, recover_interrupted_rotation, rotate_keys
from tbot.config.paths import HomePaths
from tbot.config.secret_names import KEYS
from tbot.config.secret_store import SecretStore, SecretValueError
from tests.config.crypto_fixtures import (
    FailAt,
    InjectedFailure,
    assert_all_decrypt,
    frozen_clock,
    key_path_of,
    leftover_work_files,
    populate_home,
)

NEW_BROKER = {"API_KEY": "AK-new", "API_SECRET": "rotated-secret"}




@pytest.fixture
def paths(tmp_path: Path) -> HomePaths:
    """A bot home directory."""
    return HomePaths(tmp_path / "home")


@pytest.fixture
def expected(paths: HomePaths) -> dict[Path, bytes]:
    """Every key, secret and `.env_bot.enc` created; maps each file to its plaintext."""
    return populate_home(paths)


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock (backup directories are named by its time)."""
    return frozen_clock()


def _keys(paths: HomePaths) -> dict[str, bytes]:
    return {name: read_key(paths.key_file(name)) for name in KEYS}


def test_setting_a_secret_rotates_its_own_key_and_no_other(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    before = _keys(paths)
    report = SecretStore(paths).set("broker", NEW_BROKER, clock)
    after = _keys(paths)
    assert report.rotated_keys == ["broker"]
    assert [name for name in KEYS if after[name] != before[name]] == ["broker"]
    assert SecretStore(paths).load("broker") == NEW_BROKER
    expected.pop(paths.secret_file("broker"))
    assert_all_decrypt(paths, expected)


def test_the_previous_secret_and_key_are_backed_up_together_and_open(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    target = paths.secret_file("broker")
    report = SecretStore(paths).set("broker", NEW_BROKER, clock)
    copy = report.backup_of(target)
    assert copy is not None
    old_key_copy = report.backup_dir / paths.key_file("broker").relative_to(paths.home.resolve())
    assert decrypt_file(copy, old_key_copy) == expected[target]


def test_two_changes_in_one_second_get_two_backups_and_never_reuse_a_key(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    store = SecretStore(paths)
    first_key = read_key(paths.key_file("broker"))
    first = store.set("broker", NEW_BROKER, clock)
    second_key = read_key(paths.key_file("broker"))
    second = store.set("broker", {"API_KEY": "again"}, clock)
    assert first.backup_dir != second.backup_dir
    assert first.backup_dir.is_dir() and second.backup_dir.is_dir()
    assert len({first_key, second_key, read_key(paths.key_file("broker"))}) == 3


def test_a_damaged_secret_can_be_replaced_by_setting_it(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    target = paths.secret_file("smtp")
    target.write_bytes(target.read_bytes()[:-20] + b"\n")  # truncated: no longer opens
    SecretStore(paths).set("smtp", {"SMTP_USER": "fresh"}, clock)
    assert SecretStore(paths).load("smtp") == {"SMTP_USER": "fresh"}


def test_write_new_refuses_to_overwrite_without_rotating(
    paths: HomePaths, expected: dict[Path, bytes]
) -> None:
    with pytest.raises(SecretValueError, match="rotates its key"):
        SecretStore(paths).write_new("broker", NEW_BROKER)


def test_new_content_for_a_key_not_rotated_is_refused_before_any_change(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    before = _keys(paths)
    with pytest.raises(RotationError, match="not rotated"):
        rotate_keys(paths, clock, keys=["env"], new_contents={paths.secret_file("smtp"): b"{}"})
    assert _keys(paths) == before
    assert_all_decrypt(paths, expected)


def test_config_encrypt_rotation_writes_the_new_config_under_a_new_env_key(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    old_key = read_key(paths.key_file("env"))
    text = b"VERSION_TAG=v2\n"
    rotate_keys(paths, clock, keys=["env"], new_contents={paths.env_bot_enc_file: text})
    assert read_key(paths.key_file("env")) != old_key
    assert decrypt_file(paths.env_bot_enc_file, paths.key_file("env")) == text


# Two keys in registry order: env's pending key, `.env_bot.enc`, env's promotion, then the
# broker's pending key, the changed broker secret, the broker's promotion.
_TWO_KEY_REPLACES = 6
_CHANGED_FILE_WRITTEN_AT = 4


@pytest.mark.parametrize("fail_at", range(_TWO_KEY_REPLACES))
def test_a_rotation_interrupted_between_two_files_still_decrypts_and_recovers(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock, fail_at: int
) -> None:
    target = paths.secret_file("broker")
    new_plain = json.dumps(NEW_BROKER).encode()
    hook = FailAt(fail_at)
    with pytest.raises(InjectedFailure):
        rotate_keys(
            paths,
            clock,
            keys=["broker", "env"],
            new_contents={target: new_plain},
            before_replace=hook,
        )
    # As found after the crash: every file still opens (old key or the pending one).
    changed = fail_at > _CHANGED_FILE_WRITTEN_AT
    now_expected = {**expected, target: new_plain if changed else expected[target]}
    assert_all_decrypt(paths, now_expected)
    # Recovery completes the change once it is on disk, and otherwise leaves the old state.
    recover_interrupted_rotation(paths)
    assert leftover_work_files(paths) == []
    for file, plaintext in now_expected.items():
        assert decrypt_file(file, key_path_of(paths, file)) == plaintext


def test_a_two_key_rotation_replaces_files_in_the_expected_order(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    hook = FailAt()
    rotate_keys(
        paths,
        clock,
        keys=["broker", "env"],
        new_contents={paths.secret_file("broker"): b"{}"},
        before_replace=hook,
    )
    assert len(hook.calls) == _TWO_KEY_REPLACES
    assert hook.calls[_CHANGED_FILE_WRITTEN_AT] == paths.secret_file("broker")


def test_a_secret_written_under_a_pending_key_is_not_lost_by_recovery(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    # The key file of a never-set secret may not exist: the rotation creates it.
    key = paths.key_file("acct_api")
    key.unlink()
    paths.secret_file("acct_api").unlink()
    with pytest.raises(InjectedFailure):
        rotate_keys(
            paths,
            clock,
            keys=["acct_api"],
            new_contents={paths.secret_file("acct_api"): b'{"A": 1}'},
            before_replace=FailAt(2),
        )
    assert not key.exists()
    assert decrypt_file(paths.secret_file("acct_api"), key) == b'{"A": 1}'
    assert recover_interrupted_rotation(paths) == ["acct_api"]
    assert decrypt_file(paths.secret_file("acct_api"), key) == b'{"A": 1}'


def test_write_encrypted_alone_still_works_for_files_outside_a_rotation(
    paths: HomePaths, expected: dict[Path, bytes]
) -> None:
    scratch = paths.home / "scratch.enc"
    write_encrypted(scratch, b"x", paths.key_file("env"))
    assert decrypt_file(scratch, paths.key_file("env")) == b"x"
