"""The archive's per-year manifest: every file sealed into `storage/archive/{year}/`.

`storage/archive/{year}/MANIFEST.json` lists, per file: its kind, where it came from, the
day its material belongs to, its schema and export versions, when it was archived, the
stored file's size and SHA-256 (checkable without the key), the content's size and SHA-256
(checked after decryption), and the id of the key that sealed it. A purge moves an entry to
`purged` with the clearance, who and when: the manifest never forgets a file.

The manifest is rewritten whole, atomically (temporary file, fsync, rename, folder fsync),
after its file is sealed; so a listed file always exists whole. A crash between sealing and
listing leaves an unlisted file, which the next run seals again over it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tbot.archive.sealed_file import ArchiveError
from tbot.ledger.backups.durable import make_dirs, write_durably

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = "tbot-archive-manifest"
MANIFEST_VERSION = 1
SEALED_SUFFIX = ".tbarc"


@dataclass(frozen=True)
class ArchivedFile:
    """One sealed file, as its year's manifest lists it."""

    file: str
    kind: str
    source: str
    day: str
    schema_version: int
    export_version: int
    archived_at_utc: str
    stored_bytes: int
    stored_sha256: str
    content_bytes: int
    content_sha256: str
    key_id: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def material_day(self) -> date:
        """The day the material belongs to (its log day, its export day, its set's day)."""
        return date.fromisoformat(self.day)

    @classmethod
    def from_json(cls, data: Any) -> ArchivedFile:
        """Parse one entry (KeyError/TypeError/ValueError when malformed)."""
        return cls(
            file=str(data["file"]), kind=str(data["kind"]), source=str(data["source"]),
            day=date.fromisoformat(str(data["day"])).isoformat(),
            schema_version=int(data["schema_version"]),
            export_version=int(data["export_version"]),
            archived_at_utc=str(data["archived_at_utc"]),
            stored_bytes=int(data["stored_bytes"]), stored_sha256=str(data["stored_sha256"]),
            content_bytes=int(data["content_bytes"]),
            content_sha256=str(data["content_sha256"]), key_id=str(data["key_id"]),
            details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True)
class PurgedFile:
    """A file deleted by `tbot archive purge`: what it was, and on whose clearance."""

    entry: ArchivedFile
    purged_at_utc: str
    actor: str
    clearance: str

    def as_json(self) -> dict[str, Any]:
        """The JSON object stored under `purged`."""
        return {"entry": asdict(self.entry), "purged_at_utc": self.purged_at_utc,
                "actor": self.actor, "clearance": self.clearance}

    @classmethod
    def from_json(cls, data: Any) -> PurgedFile:
        """Parse one purged record."""
        return cls(ArchivedFile.from_json(data["entry"]), str(data["purged_at_utc"]),
                   str(data["actor"]), str(data["clearance"]))


@dataclass
class YearManifest:
    """The manifest of one year folder (mutable while a run adds to it)."""

    year: int
    entries: dict[str, ArchivedFile] = field(default_factory=dict)
    purged: list[PurgedFile] = field(default_factory=list)

    def add(self, entry: ArchivedFile) -> None:
        """List `entry` (replacing an entry of the same file name)."""
        self.entries[entry.file] = entry

    def as_json(self) -> dict[str, Any]:
        """The manifest's JSON object."""
        return {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "year": self.year,
            "files": [asdict(entry) for entry in sorted(self.entries.values(),
                                                        key=lambda e: (e.day, e.file))],
            "purged": [record.as_json() for record in self.purged],
        }


def manifest_path(year_dir: Path) -> Path:
    """`{year_dir}/MANIFEST.json`."""
    return year_dir / MANIFEST_NAME


def read_manifest(year_dir: Path, year: int) -> YearManifest:
    """The manifest of `year_dir` (an empty one if the folder has none yet); ArchiveError
    naming the file when it exists but is not a manifest."""
    path = manifest_path(year_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return YearManifest(year)
    except (OSError, ValueError) as problem:
        raise ArchiveError(f"{path} cannot be read: {problem}") from None
    try:
        if data.get("format") != MANIFEST_FORMAT or data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"not a version-{MANIFEST_VERSION} tbot archive manifest")
        if int(data["year"]) != year:
            raise ValueError(f"it says year {data['year']}, in the folder of {year}")
        manifest = YearManifest(year)
        for item in data["files"]:
            manifest.add(ArchivedFile.from_json(item))
        manifest.purged = [PurgedFile.from_json(item) for item in data.get("purged", [])]
    except (KeyError, TypeError, ValueError, AttributeError) as problem:
        raise ArchiveError(f"{path} is not a valid archive manifest: {problem}") from None
    return manifest


def write_manifest(year_dir: Path, manifest: YearManifest, gid: int | None) -> None:
    """Replace the manifest of `year_dir` atomically and durably (0640)."""
    make_dirs(year_dir, gid)
    text = json.dumps(manifest.as_json(), indent=1, sort_keys=True) + "\n"
    write_durably(manifest_path(year_dir), text.encode("utf-8"), gid)


def year_folders(archive_dir: Path) -> list[tuple[int, Path]]:
    """The year folders of the archive, oldest first."""
    if not archive_dir.is_dir():
        return []
    found = []
    for path in archive_dir.iterdir():
        if path.is_dir() and len(path.name) == 4 and path.name.isdigit():
            found.append((int(path.name), path))
    return sorted(found)
