"""Key rotation: everything re-encrypted under new, never-used keys, backed up first, and a
rotation interrupted at any file operation leaves a home that decrypts and can be finished."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config import key_rotation
from tbot.config.encrypted_files import (
    KeyFilePermissionError,
    TamperedFileError,
    decrypt_file,
    file_key_fingerprint,
    generate_key,
    key_fingerprint,
    pending_key_path,
    read_key,
)
from tbot.config.key_rotation import (
    NO_PREVIOUS_KEY,
    RotationError,
    RotationReport,
    recover_interrupted_rotation,
    rotate_keys,
)
from tbot.config.paths import HomePaths
from tbot.config.secret_names import KEYS, SECRETS
from tests.config.crypto_fixtures import (
    FailAt,
    InjectedFailure,
    assert_all_decrypt,
    frozen_clock,
    key_files,
    key_path_of,
    leftover_work_files,
    mode_of,
    populate_home,
)

# One pending-key write and one rename per key, plus one replace per encrypted file
# (every secret and .env_bot.enc).
REPLACES_PER_ROTATION = 2 * len(KEYS) + len(SECRETS) + 1




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


def _current_keys(paths: HomePaths) -> dict[Path, bytes]:
    return {path: read_key(path) for path in key_files(paths) if path.exists()}


def _files_by_content(paths: HomePaths, expected: dict[Path, bytes]) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in [*expected, *key_files(paths)]}


def _backup_copy(paths: HomePaths, backup_dir: Path, path: Path) -> Path:
    return backup_dir / path.relative_to(paths.home.resolve())


def _assert_consistent(paths: HomePaths, expected: dict[Path, bytes]) -> None:
    """No pending key or temp file left, and every file is under its key file's key."""
    assert leftover_work_files(paths) == []
    assert_all_decrypt(paths, expected)
    for file in expected:
        assert file_key_fingerprint(file) == key_fingerprint(read_key(key_path_of(paths, file)))


# -- a complete rotation -----------------------------------------------------------------


def test_everything_decrypts_with_the_new_keys_afterwards(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    rotate_keys(paths, clock)
    _assert_consistent(paths, expected)


def test_every_key_changes_and_every_file_is_reencrypted(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    before_keys = _current_keys(paths)
    before_files = {path: path.read_bytes() for path in expected}
    report = rotate_keys(paths, clock)
    after_keys = _current_keys(paths)
    assert set(after_keys) == set(before_keys)
    assert all(after_keys[path] != before_keys[path] for path in before_keys)
    assert all(path.read_bytes() != before_files[path] for path in before_files)
    assert report.rotated_keys == list(KEYS)
    assert sorted(report.reencrypted) == sorted(expected)
    for name in KEYS:
        old_fp, new_fp = report.fingerprints[name]
        assert old_fp == key_fingerprint(before_keys[paths.key_file(name)])
        assert new_fp == key_fingerprint(after_keys[paths.key_file(name)])


def test_keys_and_files_stay_private(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    rotate_keys(paths, clock)
    for path in [*key_files(paths), *expected]:
        assert mode_of(path) == 0o600, path


def test_no_key_is_ever_reused_across_rotations(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    seen = set(_current_keys(paths).values())
    for _ in range(3):
        clock.advance(timedelta(seconds=1))
        rotate_keys(paths, clock)
        new = set(_current_keys(paths).values())
        assert len(new) == len(KEYS)  # distinct from each other
        assert not new & seen
        seen |= new


def test_a_generated_key_found_in_an_earlier_backup_is_discarded(
    paths: HomePaths,
    expected: dict[Path, bytes],
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_env_key = read_key(paths.key_file("env"))
    rotate_keys(paths, clock)  # the old env key now lives only in the backup
    clock.advance(timedelta(seconds=1))
    # A random source that repeats a retired key first, then behaves.
    repeats = iter([old_env_key])
    monkeypatch.setattr(key_rotation, "generate_key", lambda: next(repeats, None) or generate_key())
    rotate_keys(paths, clock)
    assert old_env_key not in _current_keys(paths).values()
    _assert_consistent(paths, expected)


def test_a_random_source_that_only_repeats_old_keys_is_refused(
    paths: HomePaths,
    expected: dict[Path, bytes],
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck = read_key(paths.key_file("broker"))
    before = _files_by_content(paths, expected)
    monkeypatch.setattr(key_rotation, "generate_key", lambda: stuck)
    with pytest.raises(RotationError, match="never used before"):
        rotate_keys(paths, clock)
    assert _files_by_content(paths, expected) == before


def test_a_key_without_a_file_is_created_by_rotation(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    paths.key_file("login").unlink()  # nothing is encrypted with it
    report = rotate_keys(paths, clock)
    assert read_key(paths.key_file("login"))
    assert report.fingerprints["login"][0] == NO_PREVIOUS_KEY


def test_absent_secrets_and_env_bot_enc_are_simply_skipped(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    for gone in (paths.env_bot_enc_file, paths.secret_file("smtp")):
        gone.unlink()
        del expected[gone]
    hook = FailAt(None)
    report = rotate_keys(paths, clock, before_replace=hook)
    assert sorted(report.reencrypted) == sorted(expected)
    assert len(hook.calls) == REPLACES_PER_ROTATION - 2
    _assert_consistent(paths, expected)


def test_a_key_file_open_to_others_stops_the_rotation_before_any_change(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    paths.key_file("login").chmod(0o644)
    before = _files_by_content(paths, expected)
    with pytest.raises(KeyFilePermissionError):
        rotate_keys(paths, clock)
    assert _files_by_content(paths, expected) == before
    assert not paths.key_backup_dir(clock.now()).exists()


# -- the backup --------------------------------------------------------------------------


def test_backup_holds_the_old_files_which_open_with_the_old_keys(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    before = _files_by_content(paths, expected)
    report = rotate_keys(paths, clock)
    assert report.backup_dir == paths.key_backup_dir(clock.now())
    for path, content in before.items():
        assert _backup_copy(paths, report.backup_dir, path).read_bytes() == content
    for file, plaintext in expected.items():
        copy = _backup_copy(paths, report.backup_dir, file)
        old_key = _backup_copy(paths, report.backup_dir, key_path_of(paths, file))
        assert decrypt_file(copy, old_key) == plaintext


def test_backup_files_are_0600_and_directories_0700(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    report = rotate_keys(paths, clock)
    entries = list(report.backup_dir.rglob("*"))
    assert entries
    for entry in entries:
        assert mode_of(entry) == (0o700 if entry.is_dir() else 0o600), entry
    assert mode_of(report.backup_dir) == 0o700


def test_an_existing_backup_directory_is_never_overwritten_but_numbered_past(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    backup_dir = paths.key_backup_dir(clock.now())
    backup_dir.mkdir(parents=True)
    (backup_dir / "earlier").write_bytes(b"keep me")
    report = rotate_keys(paths, clock)
    assert report.backup_dir == backup_dir.with_name(backup_dir.name + "-2")
    assert (backup_dir / "earlier").read_bytes() == b"keep me"
    assert sorted(p.name for p in backup_dir.iterdir()) == ["earlier"]
    assert_all_decrypt(paths, expected)


def test_a_file_that_does_not_decrypt_stops_the_rotation_before_any_change(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    victim = paths.secret_file("smtp")
    header, _, token = victim.read_bytes().partition(b"\n")
    victim.write_bytes(
        header + b"\n" + token[:40] + (b"B" if token[40:41] == b"A" else b"A") + token[41:]
    )
    before = _files_by_content(paths, expected)
    with pytest.raises(TamperedFileError):
        rotate_keys(paths, clock)
    assert _files_by_content(paths, expected) == before
    assert not paths.key_backup_dir(clock.now()).exists()


# -- the report --------------------------------------------------------------------------


def test_audit_details_are_json_with_relative_paths_and_no_key_material(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    old_keys = _current_keys(paths).values()
    report = rotate_keys(paths, clock)
    details = report.as_audit_details()
    text = json.dumps(details)
    assert details["backup_dir"] == "storage/backups/keys/20261121T142501Z"
    assert "storage/secrets/broker_credentials.json.enc" in details["reencrypted"]
    assert ".env_bot.enc" in details["reencrypted"]
    assert details["rotated_keys"] == list(KEYS)
    assert details["fingerprints"]["env"]["new"] == key_fingerprint(read_key(paths.key_file("env")))
    for key in [*old_keys, *_current_keys(paths).values()]:
        assert key.decode() not in text
        assert key.decode() not in repr(report)


# -- interruption at every point ---------------------------------------------------------


def test_a_rotation_makes_exactly_the_expected_number_of_replacements(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    hook = FailAt(None)
    rotate_keys(paths, clock, before_replace=hook)
    assert len(hook.calls) == REPLACES_PER_ROTATION


@pytest.mark.parametrize("fail_at", range(REPLACES_PER_ROTATION))
def test_interrupted_rotation_still_decrypts_and_the_next_rotation_finishes(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock, fail_at: int
) -> None:
    original_keys = set(_current_keys(paths).values())
    with pytest.raises(InjectedFailure):
        rotate_keys(paths, clock, before_replace=FailAt(fail_at))
    assert_all_decrypt(paths, expected)

    clock.advance(timedelta(seconds=1))
    report = rotate_keys(paths, clock)
    _assert_consistent(paths, expected)
    assert not set(_current_keys(paths).values()) & original_keys
    assert report.rotated_keys == list(KEYS)


@pytest.mark.parametrize("fail_at", range(REPLACES_PER_ROTATION))
def test_recovery_alone_leaves_every_file_under_its_key_file(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock, fail_at: int
) -> None:
    with pytest.raises(InjectedFailure):
        rotate_keys(paths, clock, before_replace=FailAt(fail_at))
    pending = [pending_key_path(key) for key in key_files(paths)]
    # A pending key is promoted exactly when some file already uses it.
    should_finish = [
        name
        for name, key_path in zip(KEYS, key_files(paths), strict=True)
        if pending_key_path(key_path).exists()
        and any(
            file_key_fingerprint(file) == key_fingerprint(read_key(pending_key_path(key_path)))
            for file in expected
            if key_path_of(paths, file) == key_path
        )
    ]
    assert sum(p.exists() for p in pending) <= 1

    assert recover_interrupted_rotation(paths) == should_finish
    _assert_consistent(paths, expected)
    assert recover_interrupted_rotation(paths) == []


def test_interrupted_recovery_can_itself_be_recovered(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    # Stop right before the rename of the first key whose file was re-encrypted (env).
    with pytest.raises(InjectedFailure):
        rotate_keys(paths, clock, before_replace=FailAt(2))
    with pytest.raises(InjectedFailure):
        recover_interrupted_rotation(paths, before_replace=FailAt(0))
    assert_all_decrypt(paths, expected)
    assert recover_interrupted_rotation(paths) == ["env"]
    _assert_consistent(paths, expected)


def test_finished_interrupted_rotation_is_in_the_report(
    paths: HomePaths, expected: dict[Path, bytes], clock: FrozenClock
) -> None:
    with pytest.raises(InjectedFailure):
        rotate_keys(paths, clock, before_replace=FailAt(2))
    clock.advance(timedelta(seconds=1))
    report: RotationReport = rotate_keys(paths, clock)
    assert report.finished_interrupted == ["env"]
    assert report.as_audit_details()["finished_interrupted"] == ["env"]
