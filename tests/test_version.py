"""One version, read from VERSION.md: the installed package and `tbot --version` agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tbot.cli.main import main
from tbot.version import current_tag

VERSION_MD = Path(__file__).resolve().parents[1] / "VERSION.md"


def test_installed_version_is_the_one_in_version_md() -> None:
    match = re.search(r"^Current version: (v\S+)", VERSION_MD.read_text(), re.MULTILINE)
    assert match is not None
    assert current_tag() == match.group(1), "reinstall the package after bumping VERSION.md"


def test_version_md_lists_the_current_version_first() -> None:
    text = VERSION_MD.read_text()
    current = re.search(r"^Current version: (v\S+)", text, re.MULTILINE)
    first_section = re.search(r"^## (v\S+)", text, re.MULTILINE)
    assert current and first_section
    assert first_section.group(1) == current.group(1)


def test_cli_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert current_tag() in capsys.readouterr().out
