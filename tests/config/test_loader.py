"""Loading a home: both files together, the encrypted preference, one error for everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tbot.config.encrypted_files import create_key_file, write_encrypted
from tbot.config.loader import (
    load_config,
    load_env,
    read_bot_config_text,
    template_text,
)
from tbot.config.paths import HomePaths
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.config.setting_types import BrokerName
from tbot.errors import EXIT_BAD_INPUT
from tbot.version import current_tag
from tests.config.conftest import DropKey, EditText, WriteHome


@pytest.fixture
def home(tmp_path: Path, write_home: WriteHome) -> Path:
    """A home holding the two templates as `.env` and `.env_bot`."""
    return write_home(tmp_path / "home")


@pytest.fixture
def load(version_tag: str):
    """`load_config` expecting the repository's version tag."""

    def run(home: Path):
        return load_config(home, expected_version_tag=version_tag)

    return run


@pytest.fixture
def load_problems(load):
    """The problems `load_config` reports for a home (it must fail)."""

    def run(home: Path) -> list[ConfigProblem]:
        with pytest.raises(ConfigError) as caught:
            load(home)
        return caught.value.problems

    return run


def encrypt_bot_config(home: Path, text: str) -> Path:
    """Write `text` as the home's `.env_bot.enc` with a new env key; return the file."""
    paths = HomePaths(home)
    create_key_file(paths.key_file("env"))
    write_encrypted(paths.env_bot_enc_file, text.encode("utf-8"), paths.key_file("env"))
    return paths.env_bot_enc_file


def test_template_home_loads(load, home: Path) -> None:
    config = load(home)
    assert config.env.CONTROL_DIR.as_posix() == "control"
    assert config.bot.BROKER_NAME is BrokerName.SIM
    assert config.env_source == home / ".env"
    assert config.bot_source == (home / ".env_bot").resolve()
    assert config.bot_encrypted is False
    assert config.paths.key_file("env") == (home / "storage/keys/env.key").resolve()


def test_load_env_returns_the_paths_it_configures(
    home: Path, template_env_text: str, set_value: EditText
) -> None:
    (home / ".env").write_text(set_value(template_env_text, "CONTROL_DIR", "run/tbot"))
    env, paths = load_env(home)
    assert env.CONTROL_DIR.as_posix() == "run/tbot"
    assert paths.control_dir == (home / "run" / "tbot").resolve()


def test_missing_env_file_is_a_problem_naming_it(tmp_path: Path, write_home: WriteHome) -> None:
    home = write_home(tmp_path / "home", env_text=None)
    with pytest.raises(ConfigError) as caught:
        load_env(home)
    assert caught.value.problems == [
        ConfigProblem(".env", None, None, "file not found; run `tbot init`")
    ]


def test_missing_env_bot_file_is_a_problem_naming_it(
    load_problems, tmp_path: Path, write_home: WriteHome
) -> None:
    home = write_home(tmp_path / "home", bot_text=None)
    assert load_problems(home) == [
        ConfigProblem(".env_bot", None, None, "file not found; run `tbot init`")
    ]


def test_empty_directory_reports_both_files_missing(load_problems, tmp_path: Path) -> None:
    assert [str(p) for p in load_problems(tmp_path)] == [
        ".env: file not found; run `tbot init`",
        ".env_bot: file not found; run `tbot init`",
    ]


def test_several_problems_in_both_files_are_reported_in_one_error(
    load,
    tmp_path: Path,
    write_home: WriteHome,
    template_env_text: str,
    template_bot_text: str,
    set_value: EditText,
    drop_key: DropKey,
) -> None:
    env_text = set_value(template_env_text, "LOCAL", "yes")  # 1: bad bool
    env_text = set_value(env_text, "BROKER_KEY_PATH", "/etc/broker.key")  # 2: absolute
    env_text = drop_key(env_text, "SESSION_TIMEOUT")  # 3: missing
    bot_text = set_value(template_bot_text, "START_TIME_OPEN", "9.30")  # 4: bad time
    bot_text = set_value(bot_text, "WEIGHTS", "0.5,0.5")  # 5: count != MAX_TRADES
    bot_text = set_value(bot_text, "STRATEGY_OVERRIDE", "")  # 6: empty override
    bot_text += "NOTIFY_ON_EXIT=true\nFUNNY_KEY=1\n"  # 7: duplicate, 8: unknown
    home = write_home(tmp_path / "home", env_text=env_text, bot_text=bot_text)

    with pytest.raises(ConfigError) as caught:
        load(home)

    error = caught.value
    assert error.exit_code == EXIT_BAD_INPUT
    assert [(p.file, p.key) for p in error.problems] == [
        (".env", "LOCAL"),
        (".env", "BROKER_KEY_PATH"),
        (".env", "SESSION_TIMEOUT"),
        (".env_bot", "WEIGHTS"),
        (".env_bot", "STRATEGY_OVERRIDE"),
        (".env_bot", "START_TIME_OPEN"),
        (".env_bot", "NOTIFY_ON_EXIT"),
        (".env_bot", "FUNNY_KEY"),
    ]
    assert str(error).startswith("invalid configuration (8 problems):\n  - .env:")
    assert str(error).count("\n  - ") == 8


def test_broken_env_still_finds_the_bot_config_it_names(
    load_problems,
    tmp_path: Path,
    write_home: WriteHome,
    template_env_text: str,
    template_bot_text: str,
    set_value: EditText,
) -> None:
    env_text = set_value(template_env_text, "ENV_BOT_PATH", "config/bot.env")
    env_text = set_value(env_text, "LOCAL", "maybe")
    home = write_home(tmp_path / "home", env_text=env_text, bot_text=None)
    (home / "config").mkdir()
    (home / "config" / "bot.env").write_text(set_value(template_bot_text, "MAX_TRADES", "x"))
    assert [(p.file, p.key) for p in load_problems(home)] == [
        (".env", "LOCAL"),
        ("config/bot.env", "MAX_TRADES"),
    ]


def test_encrypted_bot_config_is_preferred_and_read_in_memory(
    load, home: Path, template_bot_text: str, set_value: EditText
) -> None:
    (home / ".env_bot").write_text("THIS IS NOT READ\n")
    enc = encrypt_bot_config(home, set_value(template_bot_text, "MAX_OPEN_POSITIONS", "7"))
    config = load(home)
    assert config.bot_encrypted is True
    assert config.bot_source == enc
    assert config.bot.MAX_OPEN_POSITIONS == 7
    assert sorted(p.name for p in home.iterdir()) == [".env", ".env_bot", ".env_bot.enc", "storage"]


def test_problems_of_the_encrypted_config_name_the_encrypted_file(
    load_problems, home: Path, template_bot_text: str, set_value: EditText
) -> None:
    text = set_value(template_bot_text, "LOG_FORMAT", "xml")
    encrypt_bot_config(home, text)
    [problem] = load_problems(home)
    assert (problem.file, problem.key, problem.line) == (
        ".env_bot.enc",
        "LOG_FORMAT",
        text.splitlines().index("LOG_FORMAT=xml") + 1,
    )


def test_encrypted_config_with_the_wrong_key_is_a_problem_naming_the_file(
    load_problems, home: Path, template_bot_text: str
) -> None:
    encrypt_bot_config(home, template_bot_text)
    env_key = HomePaths(home).key_file("env")
    env_key.unlink()
    create_key_file(env_key)
    [problem] = load_problems(home)
    assert (problem.file, problem.key, problem.value) == (".env_bot.enc", None, None)
    assert "was encrypted with key" in problem.expected


def test_damaged_encrypted_config_is_a_problem_naming_the_file(
    load_problems, home: Path, template_bot_text: str
) -> None:
    enc = encrypt_bot_config(home, template_bot_text)
    enc.write_bytes(enc.read_bytes()[:40])
    [problem] = load_problems(home)
    assert problem.file == ".env_bot.enc"
    assert problem.key is None


def test_read_bot_config_text_reports_its_source(home: Path, template_bot_text: str) -> None:
    paths = HomePaths(home)
    assert read_bot_config_text(paths) == (
        template_bot_text,
        paths.env_bot_file,
        False,
    )


def test_non_utf8_bot_config_is_a_problem(load_problems, home: Path) -> None:
    (home / ".env_bot").write_bytes(b"VERSION_TAG=v0.1.0\n\xff\xfe\n")
    assert [str(p) for p in load_problems(home)] == [
        ".env_bot: the text is not UTF-8; save the file as UTF-8"
    ]


def test_default_expected_version_tag_is_the_installed_packages(
    home: Path, template_bot_text: str, set_value: EditText
) -> None:
    (home / ".env_bot").write_text(set_value(template_bot_text, "VERSION_TAG", "v99.0.0"))
    with pytest.raises(ConfigError) as caught:
        load_config(home)
    [problem] = caught.value.problems
    assert problem.key == "VERSION_TAG"
    assert problem.expected.startswith(current_tag())


def test_template_text_refuses_an_unknown_name() -> None:
    with pytest.raises(ValueError, match=r"no template for '\.env_web'"):
        template_text(".env_web")  # type: ignore[arg-type]
