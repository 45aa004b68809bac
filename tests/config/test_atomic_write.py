"""atomic_write_bytes: all or nothing, private from the first byte, no litter on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tbot.config.atomic_write import atomic_write_bytes, ensure_private_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _entries(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


def test_new_file_gets_content_and_private_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret.bin"
    atomic_write_bytes(target, b"payload")
    assert target.read_bytes() == b"payload"
    assert _mode(target) == 0o600
    assert _entries(tmp_path) == ["secret.bin"]


def test_existing_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old content that is longer than the new one")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"


def test_requested_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "public.txt"
    previous = os.umask(0o077)
    try:
        atomic_write_bytes(target, b"x", mode=0o644)
    finally:
        os.umask(previous)
    assert _mode(target) == 0o644


def test_missing_parent_directories_are_created_private(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file"
    atomic_write_bytes(target, b"x")
    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "b") == 0o700


def test_existing_parent_directory_keeps_its_mode(tmp_path: Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir(mode=0o755)
    parent.chmod(0o755)
    ensure_private_dir(parent)
    atomic_write_bytes(parent / "file", b"x")
    assert _mode(parent) == 0o755


def test_temp_file_is_private_before_any_byte_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes_at_write: list[int] = []
    real_write = os.write

    def recording_write(fd: int, data: bytes) -> int:
        modes_at_write.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", recording_write)
    atomic_write_bytes(tmp_path / "secret", b"payload")
    assert modes_at_write and set(modes_at_write) == {0o600}


def test_failed_rename_leaves_no_temp_file(tmp_path: Path) -> None:
    # A directory in the way makes the final rename fail for real.
    blocker = tmp_path / "target"
    blocker.mkdir()
    (blocker / "inside").write_bytes(b"untouched")
    with pytest.raises(OSError):
        atomic_write_bytes(blocker, b"new data")
    assert _entries(tmp_path) == ["target"]
    assert (blocker / "inside").read_bytes() == b"untouched"


def test_failure_before_rename_keeps_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old complete content")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new content that never lands")
    monkeypatch.undo()
    assert target.read_bytes() == b"old complete content"
    assert _entries(tmp_path) == ["file"]
