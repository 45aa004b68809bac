"""The shipped templates and reference: complete, commented, valid as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from tbot.config.bot_settings import BotSettings
from tbot.config.dotenv_reader import read_dotenv_text
from tbot.config.env_settings import EnvSettings
from tbot.config.loader import parse_bot_text, parse_env_text, template_text
from tbot.config.paths import HomePaths
from tbot.config.secret_names import KEYS, SECRETS
from tbot.config.setting_types import BrokerName
from tests.config.conftest import REPO_ROOT

TEMPLATES = {".env": EnvSettings, ".env_bot": BotSettings}
_KEY_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=")


@pytest.fixture(params=sorted(TEMPLATES))
def template(request: pytest.FixtureRequest) -> tuple[str, str, type[BaseModel]]:
    """(name, text, model) of each template in turn."""
    return request.param, template_text(request.param), TEMPLATES[request.param]


def test_env_template_validates_as_is(template_env_text: str) -> None:
    parse_env_text(template_env_text, ".env")


def test_bot_template_validates_as_is(template_bot_text: str, version_tag: str) -> None:
    parse_bot_text(template_bot_text, ".env_bot", expected_version_tag=version_tag)


def test_template_keys_are_exactly_the_model_fields(
    template: tuple[str, str, type[BaseModel]],
) -> None:
    name, text, model = template
    document = read_dotenv_text(text, name)
    assert document.problems == ()
    assert list(document.entries) == list(model.model_fields)


def test_each_template_key_has_a_comment_line_above_it(
    template: tuple[str, str, type[BaseModel]],
) -> None:
    _, text, _ = template
    lines = text.splitlines()
    uncommented = [
        match[1]
        for number, line in enumerate(lines)
        if (match := _KEY_LINE.match(line))
        and not (number > 0 and re.match(r"# \S", lines[number - 1]))
    ]
    assert uncommented == []


def test_env_template_paths_equal_the_secret_registry(template_env_text: str) -> None:
    overrides = parse_env_text(template_env_text, ".env").path_overrides()
    for spec in [*KEYS.values(), *SECRETS.values()]:
        assert overrides[spec.env_key] == spec.default_path, spec.env_key


def test_env_template_layout_is_the_default_home_layout(
    tmp_path: Path, template_env_text: str
) -> None:
    configured = HomePaths(tmp_path, parse_env_text(template_env_text, ".env").path_overrides())
    default = HomePaths(tmp_path)
    assert configured.env_bot_file == default.env_bot_file
    assert configured.control_dir == default.control_dir
    assert [configured.key_file(n) for n in KEYS] == [default.key_file(n) for n in KEYS]


def test_bot_template_version_tag_is_the_version_md_tag(
    template_bot_text: str, version_tag: str
) -> None:
    assert read_dotenv_text(template_bot_text, ".env_bot").entries["VERSION_TAG"].value == (
        version_tag
    )


def test_bot_template_defaults_to_the_simulated_broker_and_no_override(
    template_bot_text: str, version_tag: str
) -> None:
    bot = parse_bot_text(template_bot_text, ".env_bot", expected_version_tag=version_tag)
    assert bot.BROKER_NAME is BrokerName.SIM
    assert bot.STRATEGY_OVERRIDE is None
    assert "STRATEGY_OVERRIDE=none\n" in template_bot_text


@pytest.mark.parametrize("name", [".env.template", ".env_bot.template"])
def test_repo_root_template_links_point_at_the_shipped_templates(name: str) -> None:
    link = REPO_ROOT / name
    assert link.is_symlink()
    assert link.resolve() == (REPO_ROOT / "tbot" / "config" / "templates" / name).resolve()


def test_every_setting_is_documented_in_the_configuration_reference() -> None:
    reference = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", reference))
    fields = set(EnvSettings.model_fields) | set(BotSettings.model_fields)
    assert sorted(fields - documented) == []
