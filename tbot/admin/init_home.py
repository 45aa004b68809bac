"""`tbot init`: a new bot home with config, keys, identity, chart of accounts and empty ledger."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tbot.admin.bot_home import BotHome, open_home
from tbot.clock import Clock
from tbot.config.atomic_write import atomic_write_bytes
from tbot.config.encrypted_files import create_key_file
from tbot.config.identity import BotIdentity
from tbot.config.identity_store import save_identity
from tbot.config.loader import load_env, template_text
from tbot.config.secret_names import KEYS
from tbot.errors import TbotError
from tbot.ledger.coa_file import create_coa_file
from tbot.ledger.posting import LedgerWriter, create_ledger_file


class HomeExistsError(TbotError):
    """The target already holds a bot home; init never overwrites one."""


# What marks a directory as a bot home: init refuses if any of these is present.
_HOME_MARKERS = (".env", ".env_bot", ".env_bot.enc", "storage", "output")


def init_home(home: Path, identity: BotIdentity, clock: Clock, *, actor: str) -> BotHome:
    """Create a complete bot home at `home` and return it opened and validated.

    Everything is built in a scratch directory beside the target and moved in at the end, so
    a failure half-way leaves no half-made home behind.
    """
    home = home.resolve()
    found = [marker for marker in _HOME_MARKERS if (home / marker).exists()]
    if found:
        raise HomeExistsError(
            f"{home} is already a bot home (found {', '.join(found)}); "
            "refusing to overwrite it. Choose another --home."
        )
    home.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tbot-init-", dir=home))
    try:
        _build_home(scratch, identity, clock)
        for entry in sorted(os.listdir(scratch)):
            os.replace(scratch / entry, home / entry)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    opened = open_home(home)
    with LedgerWriter(opened.paths, clock, opened.backup_policy) as writer:
        writer.record_event(
            "home.init",
            actor=actor,
            subject=identity.bot_identity,
            details={"bot_identity": identity.bot_identity, "keys": sorted(KEYS)},
        )
    return opened


def _build_home(root: Path, identity: BotIdentity, clock: Clock) -> None:
    atomic_write_bytes(root / ".env", template_text(".env").encode(), mode=0o600)
    _, home_paths = load_env(root)
    atomic_write_bytes(home_paths.env_bot_file, template_text(".env_bot").encode(), mode=0o600)
    for name in KEYS:
        create_key_file(home_paths.key_file(name))
    save_identity(home_paths, identity)

    bot_paths = home_paths.for_bot(identity)
    for directory in bot_paths.output_dirs():
        directory.mkdir(parents=True, exist_ok=True)
    create_coa_file(bot_paths.coa_db(), identity, clock)
    create_ledger_file(bot_paths, clock)
