"""`.env`: where a bot home keeps its keys, secrets and bot configuration.

It holds no credentials, only relative paths and a few session settings. The path keys are
what `tbot.config.paths.HomePaths` takes as overrides; their defaults in `.env.template`
are those of `tbot.config.secret_names`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict

from tbot.config.setting_types import (
    ControlRoles,
    EnvironmentChoice,
    Flag,
    Minutes,
    PositiveInt,
    RelativePath,
    RuleBreach,
    Seconds,
)


class EnvSettings(BaseModel):
    """The validated `.env`. Field names are the file's keys; every key is required."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Core environment
    ENVIRONMENT: EnvironmentChoice
    LOCAL: Flag
    CONTROL_DIR: RelativePath
    CONTROL_ROLES: ControlRoles
    ENV_BOT_PATH: RelativePath

    # Fernet key files
    ENV_KEY_PATH: RelativePath
    LOGIN_KEY_PATH: RelativePath
    BROKER_KEY_PATH: RelativePath
    SMTP_KEY_PATH: RelativePath
    SCREENER_API_KEY_PATH: RelativePath
    ACCT_API_KEY_PATH: RelativePath
    ALERT_KEY_PATH: RelativePath
    NETWORK_CONFIG_KEY_PATH: RelativePath
    BOT_IDENTITY_KEY_PATH: RelativePath

    # Encrypted secrets
    BROKER_CREDENTIALS_PATH: RelativePath
    SMTP_CREDENTIALS_PATH: RelativePath
    SCREENER_API_PATH: RelativePath
    ACCT_API_CREDENTIALS_PATH: RelativePath
    NETWORK_CONFIG_PATH: RelativePath
    ALERT_CHANNELS_PATH: RelativePath
    BOT_IDENTITY_PATH: RelativePath

    # Session / login controls: kept from the seed, unused until a login feature exists
    SESSION_TIMEOUT: Seconds
    LOGIN_ATTEMPT_LIMIT: PositiveInt
    LOGIN_LOCKOUT_MINUTES: Minutes
    SESSION_TIMEOUT_MINUTES: Minutes

    def path_overrides(self) -> dict[str, str]:
        """{`.env` key: relative path} for every path key, as `HomePaths` takes them."""
        return path_overrides_of(dict(self))


def path_overrides_of(values: Mapping[str, Any]) -> dict[str, str]:
    """The path keys among already-validated `.env` values (possibly only some of them)."""
    return {key: str(value) for key, value in values.items() if isinstance(value, PurePosixPath)}


def env_rule_breaches(values: Mapping[str, Any]) -> list[RuleBreach]:
    """Cross-field rules of `.env` over the values that validated.

    Each path key must name its own file or folder: two secrets sharing a file would
    overwrite each other, and a key file shared with a secret would be clobbered by it.
    """
    breaches: list[RuleBreach] = []
    owner_of: dict[PurePosixPath, str] = {}
    for key, path in path_overrides_of(values).items():
        normalised = PurePosixPath(path)
        if normalised in owner_of:
            breaches.append(
                RuleBreach(key, f"a path of its own; {owner_of[normalised]} already uses {path}")
            )
        else:
            owner_of[normalised] = key
    return breaches
