"""A user keymap: rebind any console binding by its id, from a small TOML file.

```toml
# ~/.config/tbot/keymap.toml
[keys]
"command.kill" = "ctrl+k"
"view.ledger" = "f3,l"      # several keys, comma-separated
```

The file is checked whole before anything is applied, and every mistake is reported with
what was expected, so a typo never leaves the console with half a keymap.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from textual.screen import Screen

KEYMAP_ENV = "TBOT_KEYMAP"
KEYS_TABLE = "keys"

# A key as Textual names it: `x`, `X`, `?`, `f9`, `ctrl+k`, `shift+tab`, `question_mark`.
_KEY_NAME = re.compile(r"[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*")


class KeymapError(ValueError):
    """A keymap file that cannot be used; the message says where and why."""


def default_keymap_path() -> Path:
    """`$TBOT_KEYMAP`, else `$XDG_CONFIG_HOME/tbot/keymap.toml`, else
    `~/.config/tbot/keymap.toml` (the file need not exist)."""
    explicit = os.environ.get(KEYMAP_ENV)
    if explicit:
        return Path(explicit).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config_home) if config_home else Path.home() / ".config"
    return base / "tbot" / "keymap.toml"


def load_keymap(path: Path, known_ids: frozenset[str]) -> dict[str, str]:
    """Read `path` and return `{binding id: keys}` for `App.set_keymap`.

    Raises `KeymapError` for a file that cannot be read, is not TOML, has no `[keys]`
    table, names a binding id not in `known_ids`, gives a value that is not a non-empty
    string of keys, or gives one key to two bindings.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeymapError(f"keymap {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KeymapError(f"keymap {path}: cannot read it: {error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise KeymapError(f"keymap {path} is not valid TOML: {error}") from None

    keys = document.get(KEYS_TABLE)
    if not isinstance(keys, Mapping):
        raise KeymapError(
            f'keymap {path}: no [keys] table; write e.g.\n[keys]\n"command.kill" = "ctrl+k"'
        )
    extra = sorted(name for name in document if name != KEYS_TABLE)
    if extra:
        raise KeymapError(
            f"keymap {path}: unknown section(s) {', '.join(extra)}; only [keys] is read"
        )

    keymap: dict[str, str] = {}
    owner_of_key: dict[str, str] = {}
    for binding_id, value in keys.items():
        if binding_id not in known_ids:
            raise KeymapError(
                f"keymap {path}: unknown binding id {binding_id!r}; "
                f"known ids include {_some(known_ids, near=binding_id)}"
            )
        key_list = _key_list(value)
        if key_list is None:
            raise KeymapError(
                f'keymap {path}: {binding_id!r} must be a string of keys like "ctrl+k" '
                f'or "f9,ctrl+k", got {value!r}'
            )
        for key in key_list:
            other = owner_of_key.setdefault(key, binding_id)
            if other != binding_id:
                raise KeymapError(
                    f"keymap {path}: {key!r} is given to both {other!r} and {binding_id!r}"
                )
        keymap[binding_id] = ",".join(key_list)
    return keymap


def _key_list(value: object) -> list[str] | None:
    """The keys of a keymap value, or None when it is not a usable string of keys."""
    if not isinstance(value, str):
        return None
    keys = [key.strip() for key in value.split(",")]
    if not keys or any(not key or (len(key) > 1 and not _KEY_NAME.fullmatch(key)) for key in keys):
        return None
    return keys


def _some(known_ids: frozenset[str], *, near: str, count: int = 6) -> str:
    """A few known ids, those sharing the unknown id's prefix first."""
    prefix = near.split(".", 1)[0] + "."
    ordered = sorted(known_ids, key=lambda name: (not name.startswith(prefix), name))
    shown = ", ".join(ordered[:count])
    more = len(ordered) - count
    return f"{shown} and {more} more" if more > 0 else shown or "(none)"


def keys_by_binding_id(screen: Screen[object]) -> dict[str, str]:
    """The keys each binding id answers to on `screen` now, as Textual displays them
    (after the user keymap), e.g. {"command.kill": "ctrl+k", "confirm.yes": "y/enter"}."""
    keys: dict[str, list[str]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.id:
            keys.setdefault(binding.id, []).append(screen.app.get_key_display(binding))
    return {binding_id: "/".join(shown) for binding_id, shown in keys.items()}
