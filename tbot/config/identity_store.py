"""Loading and saving the bot's identity, kept in the `bot_identity` encrypted secret.

Identity codes are not secret (they are in every file name the bot writes), so a problem
with one may show its value; a crypto problem is reported through its own safe message.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tbot.config.encrypted_files import CryptoError
from tbot.config.identity import CODE_RULE, BotIdentity
from tbot.config.paths import HomePaths
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.config.secret_store import SecretStore

IDENTITY_SECRET = "bot_identity"
_IDENTITY_KEYS = tuple(field.alias or name for name, field in BotIdentity.model_fields.items())
_HEADLINE = "invalid bot identity"


def _display_name(paths: HomePaths) -> str:
    """The identity file as shown to an operator: relative to the home when it is inside."""
    path = paths.secret_file(IDENTITY_SECRET)
    home = paths.home.resolve()
    return str(path.relative_to(home)) if path.is_relative_to(home) else str(path)


def _problems_from(error: ValidationError, raw: dict[str, Any], file: str) -> list[ConfigProblem]:
    """One ConfigProblem per bad key, in a form an operator can act on."""
    problems: list[ConfigProblem] = []
    for detail in error.errors():
        key = str(detail["loc"][0]) if detail["loc"] else None
        if detail["type"] == "missing":
            problems.append(ConfigProblem(file, key, None, CODE_RULE))
        elif detail["type"] == "extra_forbidden":
            # An unknown key is shown without its value: it could be anything.
            problems.append(
                ConfigProblem(
                    file,
                    None,
                    None,
                    f"unknown key {key!r}; the identity holds exactly {', '.join(_IDENTITY_KEYS)}",
                )
            )
        else:
            value = raw.get(key) if key is not None else None
            shown = value if isinstance(value, str) else repr(value)
            problems.append(ConfigProblem(file, key, shown, CODE_RULE))
    return problems


def load_identity(paths: HomePaths) -> BotIdentity:
    """The bot's identity, decrypted from its secret and validated.

    Any problem (missing file, key trouble, bad codes) becomes one ConfigError naming the
    file and every bad key.
    """
    file = _display_name(paths)
    store = SecretStore(paths)
    if not store.exists(IDENTITY_SECRET):
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    None,
                    None,
                    "file not found; run `tbot init`, or `tbot secrets set bot_identity "
                    f"--from-file FILE` with a JSON object of {', '.join(_IDENTITY_KEYS)}",
                )
            ],
            _HEADLINE,
        )
    try:
        raw = store.load(IDENTITY_SECRET)
    except CryptoError as error:
        raise ConfigError([ConfigProblem(file, None, None, str(error))], _HEADLINE) from None
    try:
        return BotIdentity.model_validate(raw)
    except ValidationError as error:
        problems = _problems_from(error, raw, file)
    raise ConfigError(problems, _HEADLINE)


def save_identity(paths: HomePaths, identity: BotIdentity) -> None:
    """Write `identity` as the `bot_identity` secret of a new home (creating its key if
    needed). An existing identity is changed with `tbot secrets set`, which rotates its key."""
    SecretStore(paths).write_new(IDENTITY_SECRET, identity.as_file_dict())
