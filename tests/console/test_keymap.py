"""A user keymap file rebinds bindings by id; every mistake in it is reported clearly, and a
loaded keymap really moves a command to its new key in a running app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import pytest
from textual.app import App
from textual.binding import BindingType

from tui.commands.keymap import KeymapError, default_keymap_path, load_keymap
from tui.commands.registry import COMMANDS, command_bindings

KNOWN = frozenset({c.binding_id for c in COMMANDS} | {"app.help", "app.quit", "view.ledger"})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keymap.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_maps_ids_to_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[keys]\n"command.kill" = "ctrl+k"\n"view.ledger" = "f3, l"\n"app.help" = "?"\n'
    )
    assert load_keymap(path, KNOWN) == {
        "command.kill": "ctrl+k",
        "view.ledger": "f3,l",
        "app.help": "?",
    }


def test_an_empty_keys_table_changes_nothing(tmp_path: Path) -> None:
    assert load_keymap(write(tmp_path, "[keys]\n"), KNOWN) == {}


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[keys]\n"command.kill" = "ctrl+k"\n"command.pause" = \n')
    with pytest.raises(KeymapError, match=r"is not valid TOML: .*line 3"):
        load_keymap(path, KNOWN)


def test_a_file_without_a_keys_table_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '"command.kill" = "ctrl+k"\n')
    with pytest.raises(KeymapError, match=r"no \[keys\] table"):
        load_keymap(path, KNOWN)


def test_an_unknown_section_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[keys]\n"command.kill" = "ctrl+k"\n[colors]\nx = "red"\n')
    with pytest.raises(KeymapError, match=r"unknown section.*colors"):
        load_keymap(path, KNOWN)


def test_an_unknown_id_lists_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, '[keys]\n"command.nuke" = "ctrl+k"\n')
    with pytest.raises(KeymapError) as raised:
        load_keymap(path, KNOWN)
    message = str(raised.value)
    assert "unknown binding id 'command.nuke'" in message
    assert "command.kill" in message  # same prefix first
    assert "more" in message


@pytest.mark.parametrize(
    "value", ["5", '""', '" , "', '"ctrl k"', '["ctrl+k"]', "true", '"ctrl+k,"']
)
def test_a_value_that_is_not_keys_is_refused(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f'[keys]\n"command.kill" = {value}\n')
    with pytest.raises(KeymapError, match=r"'command\.kill' must be a string of keys"):
        load_keymap(path, KNOWN)


def test_one_key_for_two_bindings_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[keys]\n"command.kill" = "ctrl+k"\n"command.pause" = "f2,ctrl+k"\n')
    expected = "'ctrl+k' is given to both 'command.kill' and 'command.pause'"
    with pytest.raises(KeymapError, match=re.escape(expected)):
        load_keymap(path, KNOWN)


def test_a_missing_or_unreadable_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(KeymapError, match="no such file"):
        load_keymap(tmp_path / "absent.toml", KNOWN)
    with pytest.raises(KeymapError, match="cannot read it"):
        load_keymap(tmp_path, KNOWN)  # a directory
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[keys]")
    with pytest.raises(KeymapError, match="cannot read it"):
        load_keymap(binary, KNOWN)


def test_default_path_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TBOT_KEYMAP", str(tmp_path / "mine.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_keymap_path() == tmp_path / "mine.toml"
    monkeypatch.delenv("TBOT_KEYMAP")
    assert default_keymap_path() == tmp_path / "xdg" / "tbot" / "keymap.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_keymap_path() == tmp_path / "home" / ".config" / "tbot" / "keymap.toml"


class KeysApp(App[None]):
    """The command hotkeys, recording which command each key press runs."""

    BINDINGS: ClassVar[list[BindingType]] = command_bindings()

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[str] = []

    def action_run_command(self, command_id: str) -> None:
        self.ran.append(command_id)


async def test_a_loaded_keymap_rebinds_a_command_in_a_running_app(tmp_path: Path) -> None:
    path = write(tmp_path, '[keys]\n"command.kill" = "ctrl+k"\n"command.pause" = "f2,P"\n')
    app = KeysApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("X", "p")
        await pilot.pause()
        assert app.ran == ["kill", "pause"]
        app.set_keymap(load_keymap(path, KNOWN))
        await pilot.press("X", "p")  # the old keys do nothing now
        await pilot.pause()
        assert app.ran == ["kill", "pause"]
        await pilot.press("ctrl+k", "f2", "P", "v")
        await pilot.pause()
    assert app.ran == ["kill", "pause", "kill", "pause", "pause", "verify"]
