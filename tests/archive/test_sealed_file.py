"""The sealed file format: round trips, and every way a file can be damaged is named."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import BinaryIO

import pytest
from cryptography.fernet import Fernet

from tbot.archive import sealed_file
from tbot.archive.sealed_file import (
    MAGIC,
    SealedFileDamaged,
    open_sealed,
    seal_chunks,
    seal_stream,
    stored_sha256,
)


@pytest.fixture
def fernet() -> Fernet:
    return Fernet(Fernet.generate_key())


@pytest.fixture
def small_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames of 1 KiB, so a small test file spans many."""
    monkeypatch.setattr(sealed_file, "FRAME_BYTES", 1024)


def content_of(path: Path, fernet: Fernet) -> bytes:
    return b"".join(open_sealed(path, fernet))


def random_content(size: int) -> bytes:
    return os.urandom(size)  # incompressible: many frames


def test_a_sealed_file_reads_back_its_content_and_reports_both_digests(
    tmp_path: Path, fernet: Fernet, small_frames: None
) -> None:
    content = random_content(20_000)
    target = tmp_path / "a.tbarc"
    facts = seal_chunks([content[:7000], content[7000:]], target, fernet)
    assert content_of(target, fernet) == content
    assert facts.content_bytes == len(content)
    assert (facts.stored_bytes, facts.stored_sha256) == stored_sha256(target)
    assert target.read_bytes().startswith(MAGIC)
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_empty_content_seals_and_reads_back_empty(tmp_path: Path, fernet: Fernet) -> None:
    target = tmp_path / "empty.tbarc"
    seal_chunks([], target, fernet)
    assert content_of(target, fernet) == b""


@pytest.mark.parametrize("cut", ["frame-boundary", "mid-frame", "header"])
def test_a_truncated_file_is_refused_wherever_it_was_cut(
    tmp_path: Path, fernet: Fernet, small_frames: None, cut: str
) -> None:
    target = tmp_path / "a.tbarc"
    seal_chunks([random_content(5000)], target, fernet)
    data = target.read_bytes()
    first_length = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "big")
    boundary = len(MAGIC) + 4 + first_length
    size = {"frame-boundary": boundary, "mid-frame": boundary - 10,
            "header": boundary + 2}[cut]
    target.write_bytes(data[:size])
    with pytest.raises(SealedFileDamaged, match="truncated") as caught:
        content_of(target, fernet)
    assert caught.value.path == target


def test_an_altered_byte_or_another_key_does_not_decrypt(
    tmp_path: Path, fernet: Fernet
) -> None:
    target = tmp_path / "a.tbarc"
    seal_chunks([b"ledger rows" * 100], target, fernet)
    with pytest.raises(SealedFileDamaged, match="another key"):
        content_of(target, Fernet(Fernet.generate_key()))
    data = bytearray(target.read_bytes())
    data[len(MAGIC) + 40] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(SealedFileDamaged, match="does not decrypt"):
        content_of(target, fernet)


def test_bytes_after_the_last_frame_and_a_foreign_file_are_refused(
    tmp_path: Path, fernet: Fernet
) -> None:
    target = tmp_path / "a.tbarc"
    seal_chunks([b"x" * 10], target, fernet)
    target.write_bytes(target.read_bytes() + b"junk")
    with pytest.raises(SealedFileDamaged, match="follow its last frame"):
        content_of(target, fernet)
    foreign = tmp_path / "b.tbarc"
    foreign.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(SealedFileDamaged, match="not a tbot archive file"):
        content_of(foreign, fernet)


def test_a_failed_seal_leaves_no_file_and_no_partial(tmp_path: Path, fernet: Fernet) -> None:
    target = tmp_path / "a.tbarc"

    def disk_full(out: BinaryIO) -> None:
        out.write(b"some content")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        seal_stream(disk_full, target, fernet)
    assert list(tmp_path.iterdir()) == []


def test_sealing_over_an_existing_file_replaces_it_whole(tmp_path: Path, fernet: Fernet
                                                         ) -> None:
    target = tmp_path / "a.tbarc"
    seal_chunks([b"first"], target, fernet)
    seal_chunks([b"second"], target, fernet)
    assert content_of(target, fernet) == b"second"
