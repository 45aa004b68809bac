""".env validation: paths stay inside the home, every key required, overrides for HomePaths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tbot.config.env_settings import EnvSettings
from tbot.config.loader import parse_env_text
from tbot.config.paths import HomePaths
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.config.secret_names import KEYS, SECRETS
from tbot.config.setting_types import Environment
from tests.config.conftest import DropKey, EditText


def problems_of(text: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        parse_env_text(text, ".env")
    return caught.value.problems


def line_of(text: str, key: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(f"{key}="))


def test_template_env_validates_to_typed_settings(template_env_text: str) -> None:
    env = parse_env_text(template_env_text, ".env")
    assert env.ENVIRONMENT is Environment.DEVELOPMENT
    assert env.LOCAL is True
    assert env.SESSION_TIMEOUT == 3000


def test_path_overrides_cover_every_path_key(template_env_text: str) -> None:
    overrides = parse_env_text(template_env_text, ".env").path_overrides()
    registry_keys = {spec.env_key for spec in KEYS.values()} | {
        spec.env_key for spec in SECRETS.values()
    }
    assert set(overrides) == registry_keys | {"CONTROL_DIR", "ENV_BOT_PATH"}
    assert overrides["ENV_KEY_PATH"] == "storage/keys/env.key"


def test_path_overrides_place_the_files_of_home_paths(
    tmp_path: Path, template_env_text: str, set_value: EditText
) -> None:
    text = set_value(template_env_text, "ENV_BOT_PATH", "config/bot.env")
    text = set_value(text, "BROKER_KEY_PATH", "vault/broker.key")
    paths = HomePaths(tmp_path, parse_env_text(text, ".env").path_overrides())
    assert paths.env_bot_file == (tmp_path / "config" / "bot.env").resolve()
    assert paths.env_bot_enc_file == (tmp_path / "config" / "bot.env.enc").resolve()
    assert paths.key_file("broker") == (tmp_path / "vault" / "broker.key").resolve()


def test_env_path_with_dotdot_is_refused(template_env_text: str, set_value: EditText) -> None:
    text = set_value(template_env_text, "ENV_KEY_PATH", "storage/../../etc/env.key")
    [problem] = problems_of(text)
    assert problem.key == "ENV_KEY_PATH"
    assert problem.value == "storage/../../etc/env.key"
    assert problem.line == line_of(text, "ENV_KEY_PATH")
    assert "'..' would leave the bot home" in problem.expected


@pytest.mark.parametrize("absolute", ["/etc/tbot/env.key", "~/env.key", "C:/keys/env.key"])
def test_absolute_env_path_is_refused(
    template_env_text: str, set_value: EditText, absolute: str
) -> None:
    [problem] = problems_of(set_value(template_env_text, "SMTP_KEY_PATH", absolute))
    assert (problem.key, problem.value) == ("SMTP_KEY_PATH", absolute)
    assert "relative to the bot home" in problem.expected


def test_env_path_with_backslashes_is_refused(
    template_env_text: str, set_value: EditText
) -> None:
    [problem] = problems_of(set_value(template_env_text, "CONTROL_DIR", "run\\control"))
    assert problem.key == "CONTROL_DIR"
    assert "use / between folders" in problem.expected


def test_missing_env_key_is_reported_without_a_line(
    template_env_text: str, drop_key: DropKey
) -> None:
    [problem] = problems_of(drop_key(template_env_text, "BOT_IDENTITY_KEY_PATH"))
    assert (problem.key, problem.value, problem.line) == ("BOT_IDENTITY_KEY_PATH", None, None)
    assert str(problem).startswith(".env: BOT_IDENTITY_KEY_PATH is missing; expected a path")


def test_unknown_environment_is_refused(template_env_text: str, set_value: EditText) -> None:
    [problem] = problems_of(set_value(template_env_text, "ENVIRONMENT", "staging"))
    assert problem.key == "ENVIRONMENT"
    assert problem.expected == "one of: production, development"


@pytest.mark.parametrize("key", ["SESSION_TIMEOUT", "LOGIN_ATTEMPT_LIMIT", "LOGIN_LOCKOUT_MINUTES"])
def test_session_numbers_must_be_positive_whole_numbers(
    template_env_text: str, set_value: EditText, key: str
) -> None:
    text = set_value(set_value(template_env_text, key, "0"), "SESSION_TIMEOUT_MINUTES", "1.5")
    assert {(p.key, p.value) for p in problems_of(text)} == {
        (key, "0"),
        ("SESSION_TIMEOUT_MINUTES", "1.5"),
    }


def test_two_path_keys_naming_the_same_file_are_refused(
    template_env_text: str, set_value: EditText
) -> None:
    text = set_value(template_env_text, "SMTP_KEY_PATH", "storage/keys/broker.key")
    [problem] = problems_of(text)
    assert problem.key == "SMTP_KEY_PATH"
    assert "BROKER_KEY_PATH already uses storage/keys/broker.key" in problem.expected


def test_env_settings_are_frozen(template_env_text: str) -> None:
    env = parse_env_text(template_env_text, ".env")
    with pytest.raises(ValueError, match="frozen"):
        env.LOCAL = False  # type: ignore[misc]


def test_env_settings_refuse_an_unknown_field(template_env_text: str) -> None:
    values = dict(parse_env_text(template_env_text, ".env"))
    values["ALPACA_ENABLED"] = "true"
    with pytest.raises(ValueError, match="ALPACA_ENABLED"):
        EnvSettings.model_validate(values)
