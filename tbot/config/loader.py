"""Loading a bot home's configuration: `.env`, then `.env_bot.enc` or `.env_bot`.

Every key is validated on its own first, then the cross-field rules run over the keys that
validated, so one bad value never hides another problem. All problems of both files come
back in a single `ConfigError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from tbot.config.bot_settings import BotSettings, bot_rule_breaches
from tbot.config.dotenv_reader import DotenvDocument, read_dotenv_text
from tbot.config.encrypted_files import CryptoError, decrypt_file
from tbot.config.env_settings import EnvSettings, env_rule_breaches, path_overrides_of
from tbot.config.paths import HomePaths
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.config.setting_types import RuleBreach, field_checks
from tbot.version import current_tag

Settings = TypeVar("Settings", bound=BaseModel)
Rules = Callable[[Mapping[str, Any]], list[RuleBreach]]

_NOT_FOUND = "file not found; run `tbot init`"
_NOT_UTF8 = "the text is not UTF-8; save the file as UTF-8"
_TEMPLATE_FILES = {".env": ".env.template", ".env_bot": ".env_bot.template"}
# Keys of older configurations (the seed documents) that were renamed or replaced.
_RETIRED_KEYS = {
    "ENABLE_FUNNHUB_FUNDAMENTALS_FILTER": "renamed, write ENABLE_FINNHUB_FUNDAMENTALS_FILTER",
    "ALPACA_ENABLED": "BROKER_NAME is the single broker switch; remove this key",
    "IBKR_ENABLED": "BROKER_NAME is the single broker switch; remove this key",
}


@dataclass(frozen=True)
class LoadedConfig:
    """A bot home's validated configuration and where it came from."""

    env: EnvSettings
    bot: BotSettings
    paths: HomePaths
    env_source: Path
    bot_source: Path
    bot_encrypted: bool


@dataclass
class _Checked(Generic[Settings]):
    """The outcome of validating one file: the settings if it is clean, the values that
    did validate (for reporting on the other file), and every problem."""

    settings: Settings | None
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)


def _unknown_key_problem(document: DotenvDocument, key: str, known: list[str]) -> ConfigProblem:
    entry = document.entries[key]
    if key in _RETIRED_KEYS:
        expected = f"a known setting: {_RETIRED_KEYS[key]}"
    elif key.upper() in known:
        expected = f"a known setting: keys are upper-case, write {key.upper()}"
    else:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        expected = f"a known setting; check the spelling{hint}"
    return ConfigProblem(document.source, key, entry.value, expected, entry.line)


def _check_text(
    text: str,
    source: str,
    model: type[Settings],
    rules: Rules,
    extra_rules: Rules | None = None,
) -> _Checked[Settings]:
    """Validate `text` against `model` key by key, then `rules` over what validated."""
    document = read_dotenv_text(text, source)
    checks = field_checks(model)
    problems = list(document.problems)
    values: dict[str, Any] = {}
    missing: list[ConfigProblem] = []
    for key, check in checks.items():
        entry = document.entries.get(key)
        if entry is None:
            missing.append(ConfigProblem(source, key, None, check.expected))
            continue
        try:
            values[key] = check.adapter.validate_python(entry.value)
        except ValidationError as error:
            problems.append(
                ConfigProblem(source, key, entry.value, check.describe(error), entry.line)
            )
    problems += [
        _unknown_key_problem(document, key, list(checks))
        for key in document.entries
        if key not in checks
    ]
    breaches = rules(values) + (extra_rules(values) if extra_rules else [])
    for breach in breaches:
        entry = document.entries[breach.key]
        problems.append(ConfigProblem(source, breach.key, entry.value, breach.expected, entry.line))
    # Problems in file order; missing keys (no line) follow in the template's order.
    problems.sort(key=lambda problem: problem.line or 0)
    problems += missing
    if problems:
        return _Checked(None, values, problems)
    raw = {key: entry.value for key, entry in document.entries.items()}
    return _Checked(model.model_validate(raw), values)


def _version_rule(expected_version_tag: str | None) -> Rules:
    expected = current_tag() if expected_version_tag is None else expected_version_tag

    def check(values: Mapping[str, Any]) -> list[RuleBreach]:
        found = values.get("VERSION_TAG")
        if found is None or found == expected:
            return []
        return [
            RuleBreach(
                "VERSION_TAG",
                f"{expected}, the version of the installed tbot (VERSION.md); "
                f"the file says {found}",
            )
        ]

    return check


def _check_env_text(text: str, source: str) -> _Checked[EnvSettings]:
    return _check_text(text, source, EnvSettings, env_rule_breaches)


def _check_bot_text(
    text: str, source: str, expected_version_tag: str | None
) -> _Checked[BotSettings]:
    return _check_text(
        text, source, BotSettings, bot_rule_breaches, _version_rule(expected_version_tag)
    )


def parse_env_text(text: str, source: str) -> EnvSettings:
    """Validate `.env` text; `source` names the file in problems. Raises `ConfigError`."""
    checked = _check_env_text(text, source)
    if checked.settings is None:
        raise ConfigError(checked.problems)
    return checked.settings


def parse_bot_text(
    text: str, source: str, *, expected_version_tag: str | None = None
) -> BotSettings:
    """Validate `.env_bot` text; VERSION_TAG must equal `expected_version_tag` (default: the
    installed package's tag). Raises `ConfigError` listing every problem."""
    checked = _check_bot_text(text, source, expected_version_tag)
    if checked.settings is None:
        raise ConfigError(checked.problems)
    return checked.settings


def _shown_name(path: Path, home: Path) -> str:
    """`path` relative to the home when it is inside it (".env_bot"), else as it is."""
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path)


def _read_text(path: Path, shown: str) -> str:
    if not path.is_file():
        raise ConfigError([ConfigProblem(shown, None, None, _NOT_FOUND)])
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError([ConfigProblem(shown, None, None, _NOT_UTF8)]) from None
    except OSError as error:
        raise ConfigError(
            [ConfigProblem(shown, None, None, f"cannot read the file ({error.strerror})")]
        ) from None


def read_bot_config_text(paths: HomePaths) -> tuple[str, Path, bool]:
    """The bot configuration's text, the file it came from, and whether it was encrypted.

    `.env_bot.enc` is preferred when present; it is decrypted in memory with the `env` key
    and never written out in plain text. Raises `ConfigError` naming the file.
    """
    try:
        encrypted, plain = paths.env_bot_enc_file, paths.env_bot_file
        key_file = paths.key_file("env")
    except ValueError as error:  # a configured path that resolves outside the home
        raise ConfigError([ConfigProblem(".env", None, None, str(error))]) from None
    if encrypted.exists():
        shown = _shown_name(encrypted, paths.home)
        try:
            data = decrypt_file(encrypted, key_file)
        except CryptoError as error:
            raise ConfigError([ConfigProblem(shown, None, None, str(error))]) from None
        try:
            return data.decode("utf-8"), encrypted, True
        except UnicodeDecodeError:
            raise ConfigError(
                [ConfigProblem(shown, None, None, f"once decrypted, {_NOT_UTF8}")]
            ) from None
    return _read_text(plain, _shown_name(plain, paths.home)), plain, False


def _check_env_file(home: Path) -> tuple[_Checked[EnvSettings], Path]:
    env_file = HomePaths(home).env_file
    try:
        text = _read_text(env_file, _shown_name(env_file, home))
    except ConfigError as error:
        return _Checked(None, problems=error.problems), env_file
    return _check_env_text(text, _shown_name(env_file, home)), env_file


def load_env(home: Path) -> tuple[EnvSettings, HomePaths]:
    """The validated `.env` of `home` and the paths it configures. Raises `ConfigError`."""
    home = Path(home)
    checked, _ = _check_env_file(home)
    if checked.settings is None:
        raise ConfigError(checked.problems)
    return checked.settings, HomePaths(home, checked.settings.path_overrides())


def load_config(home: Path, *, expected_version_tag: str | None = None) -> LoadedConfig:
    """Validate `.env` and the bot configuration of `home` together.

    Raises one `ConfigError` carrying the problems of both files. When `.env` is broken the
    bot configuration is still checked, located by the `.env` paths that did validate
    (the default layout for the rest), so one run shows everything to fix.
    """
    home = Path(home)
    env_checked, env_source = _check_env_file(home)
    paths = HomePaths(home, path_overrides_of(env_checked.values))
    problems = list(env_checked.problems)
    bot: BotSettings | None = None
    bot_source, bot_encrypted = paths.home / ".env_bot", False
    try:
        text, bot_source, bot_encrypted = read_bot_config_text(paths)
    except ConfigError as error:
        problems += error.problems
    else:
        bot_checked = _check_bot_text(
            text, _shown_name(bot_source, home), expected_version_tag
        )
        bot = bot_checked.settings
        problems += bot_checked.problems
    if problems or env_checked.settings is None or bot is None:
        raise ConfigError(problems)
    return LoadedConfig(
        env=env_checked.settings,
        bot=bot,
        paths=paths,
        env_source=env_source,
        bot_source=bot_source,
        bot_encrypted=bot_encrypted,
    )


def template_text(name: Literal[".env", ".env_bot"]) -> str:
    """The shipped template of `.env` or `.env_bot`, with every key and a working value."""
    if name not in _TEMPLATE_FILES:
        raise ValueError(f"no template for {name!r}; choose one of {sorted(_TEMPLATE_FILES)}")
    template = resources.files("tbot.config").joinpath("templates", _TEMPLATE_FILES[name])
    return template.read_text(encoding="utf-8")
