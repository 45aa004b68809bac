"""The archive of one bot home: its key, its lock, sealing, listing, verifying, restoring.

`ArchiveStore` is the only writer of `storage/archive/`. What goes into it, and when, is
`archive_run`'s business; the seven-year rule is `purge`'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.fernet import Fernet

from tbot.archive.manifest import (
    MANIFEST_NAME,
    SEALED_SUFFIX,
    ArchivedFile,
    YearManifest,
    read_manifest,
    write_manifest,
    year_folders,
)
from tbot.archive.sealed_file import (
    PARTIAL_SUFFIX,
    ArchiveError,
    SealedFileDamaged,
    open_sealed,
    seal_stream,
    stored_sha256,
)
from tbot.config.encrypted_files import create_key_file, key_fingerprint, read_key
from tbot.config.paths import HomePaths
from tbot.ledger.backups.durable import exclusive_lock, home_group, make_dirs
from tbot.ledger.timestamps import format_utc

_LABEL = re.compile(r"[^A-Za-z0-9._-]+")
TAR_KINDS = frozenset({"ledger-set"})
"""Kinds whose content is a tar of a folder (restored by extracting it)."""


def archive_file_name(kind: str, day: date, label: str, schema_version: int,
                      export_version: int) -> str:
    """`{day}__{kind}__{label}__s{schema}e{export}.tbarc`: the name says what the file is,
    whose day, and in which schema and export version, before anyone opens it."""
    clean = _LABEL.sub("-", label).strip("-.") or "file"
    return (f"{day.isoformat()}__{kind}__{clean}__s{schema_version}e{export_version}"
            f"{SEALED_SUFFIX}")


@dataclass(frozen=True)
class Material:
    """One thing to seal: what it is, whose day, its versions, and how to write it."""

    kind: str
    day: date
    label: str
    source: str
    schema_version: int
    export_version: int
    write: Callable[[BinaryIO], None]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        """The archive file name this material gets."""
        return archive_file_name(self.kind, self.day, self.label, self.schema_version,
                                 self.export_version)


@dataclass(frozen=True)
class VerifyFinding:
    """One problem `verify` found: the file and what is wrong."""

    year: int
    file: str
    problem: str


@dataclass
class ArchiveVerifyReport:
    """What `verify` checked and found."""

    files_checked: int = 0
    bytes_checked: int = 0
    findings: list[VerifyFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No finding."""
        return not self.findings


class ArchiveStore:
    """`storage/archive/` of one home (see the package doc)."""

    FLUSH_EVERY = 64
    """A run rewrites a year's manifest after this many files (and at its end)."""

    def __init__(self, paths: HomePaths, *, now: Callable[[], datetime]) -> None:
        self.paths = paths
        self.root = paths.archive_dir
        self.gid = home_group(paths.home)
        self._now = now
        self._fernet: Fernet | None = None
        self._key_id = ""

    # -- the key and the lock -------------------------------------------------------------
    def open_key(self, *, create: bool) -> str:
        """Load the archive key (creating it, 0600, when `create` and it does not exist);
        returns its id. A missing key with files already sealed is an error, never a new
        key: a new key would not open them."""
        path = self.paths.archive_key_file
        if not path.exists():
            if not create or self.all_entries():
                raise ArchiveError(
                    f"the archive key {path} is missing; restore it from your key backups "
                    "(a new key would not open the files already archived)")
            key = create_key_file(path)
        else:
            key = read_key(path)
        self._fernet, self._key_id = Fernet(key), key_fingerprint(key)
        return self._key_id

    @property
    def key_id(self) -> str:
        """The id of the loaded key (`open_key` first)."""
        self._require_key()
        return self._key_id

    def _require_key(self) -> Fernet:
        if self._fernet is None:
            raise ArchiveError("the archive key is not loaded")
        return self._fernet

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer of the archive at a time (other processes wait)."""
        make_dirs(self.root, self.gid)
        with exclusive_lock(self.root / "archive.lock", self.gid):
            yield

    # -- writing ------------------------------------------------------------------------
    def seal_all(self, materials: list[Material],
                 on_listed: Callable[[Material, ArchivedFile], None] | None = None
                 ) -> list[ArchivedFile]:
        """Seal each material not yet listed (call under `locked()`), listing them in their
        year's manifest every `FLUSH_EVERY` files and at the end. `on_listed` is called for
        each once its manifest is on disk (that is when an original may be removed)."""
        fernet = self._require_key()
        manifests: dict[int, YearManifest] = {}
        waiting: list[tuple[Material, ArchivedFile]] = []
        sealed: list[ArchivedFile] = []

        def flush() -> None:
            for year, manifest in manifests.items():
                write_manifest(self.paths.archive_year_dir(year), manifest, self.gid)
            for material, entry in waiting:
                if on_listed is not None:
                    on_listed(material, entry)
            waiting.clear()

        for material in materials:
            year = material.day.year
            if year not in manifests:
                manifests[year] = read_manifest(self.paths.archive_year_dir(year), year)
            manifest = manifests[year]
            listed = manifest.entries.get(material.file_name)
            if listed is not None:
                waiting.append((material, listed))  # sealed by an earlier, interrupted run
                continue
            year_dir = self.paths.archive_year_dir(year)
            make_dirs(year_dir, self.gid)
            facts = seal_stream(material.write, year_dir / material.file_name, fernet,
                                gid=self.gid)
            entry = ArchivedFile(
                file=material.file_name, kind=material.kind, source=material.source,
                day=material.day.isoformat(), schema_version=material.schema_version,
                export_version=material.export_version,
                archived_at_utc=format_utc(self._now()), stored_bytes=facts.stored_bytes,
                stored_sha256=facts.stored_sha256, content_bytes=facts.content_bytes,
                content_sha256=facts.content_sha256, key_id=self._key_id,
                details=material.details)
            manifest.add(entry)
            sealed.append(entry)
            waiting.append((material, entry))
            if len(waiting) >= self.FLUSH_EVERY:
                flush()
        flush()
        return sealed

    # -- reading ------------------------------------------------------------------------
    def manifests(self, year: int | None = None) -> list[tuple[Path, YearManifest]]:
        """The year manifests (one year, or all), oldest first."""
        found = []
        for folder_year, folder in year_folders(self.root):
            if year is None or folder_year == year:
                found.append((folder, read_manifest(folder, folder_year)))
        return found

    def all_entries(self, year: int | None = None) -> list[ArchivedFile]:
        """Every listed file, by day then name."""
        return [entry for _, manifest in self.manifests(year)
                for entry in sorted(manifest.entries.values(), key=lambda e: (e.day, e.file))]

    def find(self, name: str) -> tuple[Path, ArchivedFile]:
        """The year folder and entry of the listed file `name` (a bare name or a path)."""
        bare = Path(name).name
        for folder, manifest in self.manifests():
            entry = manifest.entries.get(bare)
            if entry is not None:
                return folder, entry
        raise ArchiveError(f"{bare} is not listed in any manifest under {self.root} "
                           "(`tbot archive list` shows what is)")

    def read_content(self, folder: Path, entry: ArchivedFile) -> Iterator[bytes]:
        """The content of a listed file, checked against its manifest entry as it streams:
        SealedFileDamaged when the stored file or its content differs."""
        fernet = self._require_key()
        path = folder / entry.file
        if not path.is_file():
            raise SealedFileDamaged(path, "listed in the manifest but missing")
        self._check_key(path, entry)
        digest = hashlib.sha256()
        size = 0
        for chunk in open_sealed(path, fernet):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
        if size != entry.content_bytes or digest.hexdigest() != entry.content_sha256:
            raise SealedFileDamaged(path, "its content differs from the manifest's SHA-256")

    def _check_key(self, path: Path, entry: ArchivedFile) -> None:
        if entry.key_id != self._key_id:
            raise SealedFileDamaged(
                path, f"sealed with key {entry.key_id}, but {self.paths.archive_key_file} is "
                f"key {self._key_id}: the wrong archive key")

    def verify(self, year: int | None = None) -> ArchiveVerifyReport:
        """Check every listed file of `year` (or all): present, its stored SHA-256, then
        decrypted and its content SHA-256. Files the manifest does not list are reported."""
        report = ArchiveVerifyReport()
        for folder, manifest in self.manifests(year):
            for entry in sorted(manifest.entries.values(), key=lambda e: e.file):
                path = folder / entry.file
                report.files_checked += 1
                if not path.is_file():
                    report.findings.append(VerifyFinding(manifest.year, entry.file,
                                                         "listed in the manifest but missing"))
                    continue
                size, digest = stored_sha256(path)
                report.bytes_checked += size
                if size != entry.stored_bytes or digest != entry.stored_sha256:
                    report.findings.append(VerifyFinding(
                        manifest.year, entry.file,
                        "altered after writing: its SHA-256 differs from the manifest's"))
                    continue
                try:
                    for _ in self.read_content(folder, entry):
                        pass
                except SealedFileDamaged as damage:
                    report.findings.append(VerifyFinding(manifest.year, entry.file,
                                                         damage.reason))
            listed = set(manifest.entries) | {MANIFEST_NAME}
            for path in sorted(folder.iterdir()):
                if path.name in listed or path.name.startswith("."):
                    continue
                problem = ("an unfinished write (a crash); the next `tbot archive run` removes "
                           "it" if path.name.endswith(PARTIAL_SUFFIX)
                           else "not listed in the manifest")
                report.findings.append(VerifyFinding(manifest.year, path.name, problem))
        return report

    def restore(self, name: str, to_dir: Path) -> list[Path]:
        """Decrypt the listed file `name` into the new or empty folder `to_dir`, checked
        against its manifest; a backup set is unpacked into its folder. Returns what was
        written. Nothing is overwritten."""
        folder, entry = self.find(name)
        to_dir = Path(to_dir)
        to_dir.mkdir(parents=True, exist_ok=True)
        target = to_dir / Path(entry.source).name
        if target.exists():
            raise ArchiveError(f"{target} already exists; restore into another folder")
        partial = target.with_name(f".{target.name}.restoring")
        try:
            with partial.open("wb") as out:
                for chunk in self.read_content(folder, entry):
                    out.write(chunk)
            if entry.kind in TAR_KINDS:
                with tarfile.open(partial, mode="r:") as bundle:
                    bundle.extractall(to_dir, filter="data")
                partial.unlink()
                return [target]
            partial.rename(target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return [target]
