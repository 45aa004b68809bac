"""Rotating every Fernet key of a bot home: backed up first, atomic at every step.

`rotate_keys` works in this order, so that stopping between ANY two file operations (crash,
power cut, full disk) leaves a home whose every file still decrypts:

1. finish any rotation an earlier run left half-done (`recover_interrupted_rotation`);
2. decrypt every encrypted file into memory; if one fails, stop before changing anything;
3. copy every key file and encrypted file to `storage/backups/keys/<UTC stamp>/` (same
   layout, 0600 files, 0700 directories, fsynced) and check the copies decrypt;
4. generate a new key for every key of the registry, none equal to a current key or to a
   key in any earlier backup;
5. per key: write the new key to `<key>.next` (atomic), re-encrypt each file of that key
   with it (atomic replace each), then rename `<key>.next` over `<key>`.

While a `.next` key exists, `decrypt_file` opens files whose header names it, so step 5 is
safe between any two operations. Recovery looks at each `.next` key: if some file already
uses it, the remaining files are re-encrypted and the key promoted; otherwise it is deleted.
No key material ever reaches a log line, an error or the report.

`rotate_keys` can also rotate only some keys and write new content as part of the same
rotation (`keys=`, `new_contents=`): that is how `tbot secrets set` and `tbot config encrypt`
change a file. A file with new content is written first in its key's group, so once any file
uses the pending key the change is in; recovery then carries it through.

One rotation at a time per home: every rotation (`tbot keys rotate`, `tbot secrets set`,
`tbot config encrypt`), the engine's start-up recovery (`recover_at_start`) and the
engine's `config.reload` (which decrypts while no key is half-way) hold the home's rotation
lock (`rotation_lock`, an flock on `storage/keys/.rotation.lock`). It is not the ledger's
writer lock: a running engine holds that one for its whole life, and a rotation must be
able to run beside it (the engine keeps the values it decrypted until `config.reload`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tbot.clock import Clock
from tbot.config.atomic_write import (
    PRIVATE_DIR_MODE,
    atomic_write_bytes,
    ensure_private_dir,
    fsync_dir,
)
from tbot.config.encrypted_files import (
    decrypt_file,
    encrypt_bytes,
    file_key_fingerprint,
    generate_key,
    is_fernet_key,
    key_fingerprint,
    pending_key_path,
    read_key,
)
from tbot.config.paths import HomePaths
from tbot.config.secret_names import KEYS, SECRETS
from tbot.errors import TbotError
from tbot.ledger.backups.durable import exclusive_lock

log = logging.getLogger(__name__)

BeforeReplace = Callable[[Path], None]
NO_PREVIOUS_KEY = "none"
# A fresh 256-bit key equal to a known one means a broken random source, not bad luck:
# retry a few times, then refuse rather than loop.
_MAX_KEY_ATTEMPTS = 5
# Rotations now follow every `tbot secrets set`, so two in one second are normal (a script
# setting several secrets): the second gets `<stamp>-2`, never the first one's directory.
_MAX_BACKUPS_PER_SECOND = 100


# How long a rotation, or an engine starting, waits for another rotation to finish: a
# rotation takes well under a second, so this much waiting means something is stuck.
ROTATION_LOCK_WAIT_SECONDS = 30.0
_LOCK_POLL_SECONDS = 0.05


class RotationError(TbotError):
    """A rotation that was refused before it changed anything."""


class RotationLockedError(RotationError):
    """Another rotation (or an engine's start-up recovery) holds the home's rotation lock."""


def rotation_lock_file(paths: HomePaths) -> Path:
    """The home's rotation lock: `storage/keys/.rotation.lock` (an empty file; flock)."""
    return paths.storage_dir / "keys" / ".rotation.lock"


@contextlib.contextmanager
def rotation_lock(
    paths: HomePaths, *, wait_seconds: float = ROTATION_LOCK_WAIT_SECONDS
) -> Iterator[None]:
    """Hold the home's rotation lock for the block, waiting up to `wait_seconds` for it.

    Raises `RotationLockedError` (nothing done) when another process still holds it then.
    The lock is per open file: a second `rotation_lock` in the same process waits too.
    """
    deadline = time.monotonic() + wait_seconds
    lock_file = rotation_lock_file(paths)
    ensure_private_dir(lock_file.parent)  # a keys folder made here is 0700 like the others
    while True:
        with exclusive_lock(lock_file, None, wait=False) as held:
            if held:
                yield
                return
        if time.monotonic() >= deadline:
            raise RotationLockedError(
                f"another key rotation on this home (`tbot keys rotate`, `tbot secrets set`, "
                f"`tbot config encrypt`, or an engine finishing an interrupted one) still "
                f"holds {lock_file} after {wait_seconds:g} s. Nothing was changed; run this "
                "again once it is done"
            )
        time.sleep(_LOCK_POLL_SECONDS)


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did. Holds names, paths and fingerprints only: no key material."""

    backup_dir: Path
    rotated_keys: list[str]
    reencrypted: list[Path]
    fingerprints: dict[str, tuple[str, str]]
    finished_interrupted: list[str]
    home: Path | None = field(default=None)
    replaced: list[Path] = field(default_factory=list)

    def _shown(self, path: Path) -> str:
        if self.home is not None:
            home = self.home.resolve()
            if path.is_relative_to(home):
                return str(path.relative_to(home))
        return str(path)

    def as_audit_details(self) -> dict[str, Any]:
        """A JSON-safe summary for the audit row: names, home-relative paths, fingerprints."""
        return {
            "backup_dir": self._shown(self.backup_dir),
            "rotated_keys": list(self.rotated_keys),
            "reencrypted": [self._shown(path) for path in self.reencrypted],
            "fingerprints": {
                name: {"old": old, "new": new} for name, (old, new) in self.fingerprints.items()
            },
            "finished_interrupted": list(self.finished_interrupted),
            "new_content": [self._shown(path) for path in self.replaced],
        }

    def backup_of(self, path: Path) -> Path | None:
        """The backup copy of `path` taken before this rotation, if `path` existed then."""
        if self.home is None:
            return None
        copy = _backup_copy(self.home, self.backup_dir, path.resolve())
        return copy if copy.exists() else None


@dataclass(frozen=True)
class _KeyGroup:
    """One key file and the encrypted files (that exist) encrypted with it."""

    name: str
    key_path: Path
    files: list[Path]


def _files_by_key(paths: HomePaths) -> dict[str, list[Path]]:
    """Every file each key encrypts, whether it exists yet or not."""
    files_by_key: dict[str, list[Path]] = {name: [] for name in KEYS}
    for secret_name, spec in SECRETS.items():
        files_by_key[spec.key.name].append(paths.secret_file(secret_name))
    files_by_key["env"].append(paths.env_bot_enc_file)
    return files_by_key


def _key_groups(paths: HomePaths) -> list[_KeyGroup]:
    return [
        _KeyGroup(name, paths.key_file(name), [f for f in files if f.exists()])
        for name, files in _files_by_key(paths).items()
    ]


def key_of_file(paths: HomePaths, file: Path) -> str:
    """The name of the key that encrypts `file` (a secret or `.env_bot.enc`)."""
    for name, files in _files_by_key(paths).items():
        if file in files:
            return name
    raise RotationError(f"{file} is not a file any key of this home encrypts")


def _replace(path: Path, data: bytes, before_replace: BeforeReplace | None) -> None:
    if before_replace is not None:
        before_replace(path)
    atomic_write_bytes(path, data)


def _promote(pending: Path, key_path: Path, before_replace: BeforeReplace | None) -> None:
    if before_replace is not None:
        before_replace(key_path)
    os.replace(pending, key_path)
    fsync_dir(key_path.parent)


def recover_interrupted_rotation(
    paths: HomePaths, *, before_replace: BeforeReplace | None = None
) -> list[str]:
    """Finish or undo what an interrupted rotation left: returns the keys it promoted.

    A pending key already used by some file is the future: the other files of that key are
    re-encrypted with it and it replaces the key file. A pending key no file uses is
    deleted. `before_replace` is called before each atomic replace or rename.
    """
    finished: list[str] = []
    for group in _key_groups(paths):
        pending = pending_key_path(group.key_path)
        if not pending.exists():
            continue
        new_key = read_key(pending)
        new_fp = key_fingerprint(new_key)
        behind = [f for f in group.files if file_key_fingerprint(f) != new_fp]
        if len(behind) == len(group.files):
            pending.unlink()
            fsync_dir(pending.parent)
            log.info("discarded the unused pending key %s of an interrupted rotation", pending)
            continue
        plaintexts = {f: decrypt_file(f, group.key_path) for f in behind}
        for file, plaintext in plaintexts.items():
            _replace(file, encrypt_bytes(plaintext, new_key), before_replace)
        _promote(pending, group.key_path, before_replace)
        log.info("finished the interrupted rotation of key %s (now %s)", group.name, new_fp)
        finished.append(group.name)
    return finished


def recover_at_start(paths: HomePaths, *, wait_seconds: float | None = None) -> list[str]:
    """`recover_interrupted_rotation` under the rotation lock, for an engine starting.

    Waits for a rotation under way (up to `wait_seconds`, default
    `ROTATION_LOCK_WAIT_SECONDS`), so it never finishes or undoes a rotation another
    process is still making; raises `RotationLockedError` when the wait runs out.
    """
    wait = ROTATION_LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    with rotation_lock(paths, wait_seconds=wait):
        return recover_interrupted_rotation(paths)


def _keys_in(directory: Path) -> set[bytes]:
    """Every Fernet key stored in a file under `directory` (other files are ignored)."""
    found: set[bytes] = set()
    if not directory.is_dir():
        return found
    for candidate in directory.rglob("*"):
        if not candidate.is_file() or candidate.stat().st_size > 1024:
            continue
        try:
            key = candidate.read_bytes().strip()
        except OSError:
            continue
        if is_fernet_key(key):
            found.add(key)
    return found


def _fresh_keys(names: Iterable[str], forbidden: set[bytes]) -> dict[str, bytes]:
    """A new key per name, distinct from each other and from every `forbidden` key."""
    chosen: dict[str, bytes] = {}
    taken = set(forbidden)
    for name in names:
        for _ in range(_MAX_KEY_ATTEMPTS):
            key = generate_key()
            if key not in taken:
                break
        else:
            raise RotationError(
                f"could not generate a new key for {name!r} that was never used before; "
                "the system's random source looks broken. Nothing was changed."
            )
        chosen[name] = key
        taken.add(key)
    return chosen


def _backup_copy(home: Path, backup_dir: Path, path: Path) -> Path:
    """Where the backup of `path` goes: the same home-relative path under `backup_dir`."""
    return backup_dir / path.relative_to(home)


def _make_backup_dir(wanted: Path) -> Path:
    """Create `wanted`, or `wanted-2`, `wanted-3`... if taken: an existing backup directory
    is never reused, let alone overwritten."""
    ensure_private_dir(wanted.parent)
    for n in range(1, _MAX_BACKUPS_PER_SECOND + 1):
        candidate = wanted if n == 1 else wanted.with_name(f"{wanted.name}-{n}")
        try:
            os.mkdir(candidate, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(candidate, PRIVATE_DIR_MODE)
        fsync_dir(candidate.parent)
        return candidate
    raise RotationError(
        f"key backups {wanted} to {wanted.name}-{_MAX_BACKUPS_PER_SECOND} already exist and "
        "are never overwritten; wait a second and try again. Nothing was changed."
    )


def _back_up(home: Path, wanted: Path, sources: list[Path]) -> Path:
    """Copy `sources` under a new backup directory (`wanted` or a numbered sibling) keeping
    their home-relative layout, durably; returns the directory."""
    backup_dir = _make_backup_dir(wanted)
    for source in sources:
        atomic_write_bytes(_backup_copy(home, backup_dir, source), source.read_bytes())
    return backup_dir


def _other_keys(groups: list[_KeyGroup]) -> set[bytes]:
    """The keys of `groups` as stored, read leniently: they only serve as keys not to reuse,
    so a key this rotation does not touch must not be able to stop it."""
    found: set[bytes] = set()
    for group in groups:
        try:
            key = group.key_path.read_bytes().strip()
        except OSError:
            continue
        if is_fernet_key(key):
            found.add(key)
    return found


def rotate_keys(
    paths: HomePaths,
    clock: Clock,
    *,
    keys: Iterable[str] | None = None,
    new_contents: Mapping[Path, bytes] | None = None,
    before_replace: BeforeReplace | None = None,
) -> RotationReport:
    """Give keys of the home a new value and re-encrypt every file of each with it.

    `keys` names the keys to rotate (default: all). `new_contents` maps files of those keys
    (existing or not) to the plaintext they hold after the rotation; the other files keep
    theirs. Backs everything up first and refuses (changing nothing) if any file fails to
    decrypt. `before_replace(path)` is called before each atomic replace or rename, for
    tests that inject failures. The caller holds the rotation lock (`rotation_lock`).
    """
    finished = recover_interrupted_rotation(paths, before_replace=before_replace)
    home = paths.home.resolve()
    all_groups = _key_groups(paths)
    wanted = list(KEYS) if keys is None else list(keys)
    unknown = [name for name in wanted if name not in KEYS]
    if unknown:
        raise RotationError(f"unknown keys {unknown}; known keys: {', '.join(KEYS)}")
    groups = [g for g in all_groups if g.name in wanted]
    changes = dict(new_contents or {})
    for file in changes:
        owner = key_of_file(paths, file)
        if owner not in wanted:
            raise RotationError(f"{file} is encrypted with key {owner!r}, which is not rotated")
    # Files with new content go first in their group: once a file uses the pending key, the
    # change is made and recovery completes it rather than undoing it.
    groups = [
        _KeyGroup(
            g.name,
            g.key_path,
            [f for f in _files_by_key(paths)[g.name] if f in changes]
            + [f for f in g.files if f not in changes],
        )
        for g in groups
    ]

    old_keys: dict[str, bytes | None] = {}
    plaintexts: dict[Path, bytes] = {}
    existing: list[Path] = []
    for group in groups:
        old_keys[group.name] = read_key(group.key_path) if group.key_path.exists() else None
        for file in group.files:
            if file.exists():
                existing.append(file)
            if file in changes:
                # Its old content is not needed (and may be the damaged file being replaced):
                # it is only backed up as it is.
                plaintexts[file] = changes[file]
            else:
                plaintexts[file] = decrypt_file(file, group.key_path)

    present_keys = [g.key_path for g in groups if old_keys[g.name] is not None]
    earlier_keys = _keys_in(paths.key_backup_dir(clock.now()).parent)
    backup_dir = _back_up(home, paths.key_backup_dir(clock.now()), present_keys + existing)
    for group in groups:  # a backup that does not open is no backup
        for file in group.files:
            if file in existing and file not in changes:
                decrypt_file(
                    _backup_copy(home, backup_dir, file),
                    _backup_copy(home, backup_dir, group.key_path),
                )
    log.info("backed up %d keys and %d files to %s", len(present_keys), len(existing), backup_dir)

    current = {key for key in old_keys.values() if key is not None} | _other_keys(all_groups)
    new_keys = _fresh_keys([g.name for g in groups], current | earlier_keys)

    fingerprints: dict[str, tuple[str, str]] = {}
    reencrypted: list[Path] = []
    for group in groups:
        new_key = new_keys[group.name]
        pending = pending_key_path(group.key_path)
        _replace(pending, new_key + b"\n", before_replace)
        for file in group.files:
            _replace(file, encrypt_bytes(plaintexts[file], new_key), before_replace)
            reencrypted.append(file)
        _promote(pending, group.key_path, before_replace)
        old = old_keys[group.name]
        fingerprints[group.name] = (
            key_fingerprint(old) if old is not None else NO_PREVIOUS_KEY,
            key_fingerprint(new_key),
        )
        log.info("rotated key %s: %s -> %s", group.name, *fingerprints[group.name])

    return RotationReport(
        backup_dir=backup_dir,
        rotated_keys=[g.name for g in groups],
        reencrypted=reencrypted,
        fingerprints=fingerprints,
        finished_interrupted=finished,
        home=home,
        replaced=[f for f in reencrypted if f in changes],
    )
