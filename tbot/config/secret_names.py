"""The registry of encrypted secrets and Fernet keys a bot home holds.

Each secret file has its own key. The `.env` keys named here let an operator move a file;
the defaults are the layout of `.env.template`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeySpec:
    """A Fernet key file: its short name, the `.env` key that places it, its default path."""

    name: str
    env_key: str
    default_path: str


@dataclass(frozen=True)
class SecretSpec:
    """An encrypted JSON secret: its name, the `.env` key that places it, its default path,
    and the key that encrypts it."""

    name: str
    env_key: str
    default_path: str
    key: KeySpec


ENV_KEY = KeySpec("env", "ENV_KEY_PATH", "storage/keys/env.key")
LOGIN_KEY = KeySpec("login", "LOGIN_KEY_PATH", "storage/keys/login.key")
BROKER_KEY = KeySpec("broker", "BROKER_KEY_PATH", "storage/keys/broker.key")
SMTP_KEY = KeySpec("smtp", "SMTP_KEY_PATH", "storage/keys/smtp.key")
SCREENER_API_KEY = KeySpec("screener_api", "SCREENER_API_KEY_PATH", "storage/keys/screener_api.key")
ACCT_API_KEY = KeySpec("acct_api", "ACCT_API_KEY_PATH", "storage/keys/acct_api.key")
ALERT_KEY = KeySpec("alert", "ALERT_KEY_PATH", "storage/keys/alert.key")
NETWORK_CONFIG_KEY = KeySpec(
    "network_config", "NETWORK_CONFIG_KEY_PATH", "storage/keys/network_config.key"
)
BOT_IDENTITY_KEY = KeySpec("bot_identity", "BOT_IDENTITY_KEY_PATH", "storage/keys/bot_identity.key")

KEYS: dict[str, KeySpec] = {
    spec.name: spec
    for spec in (
        ENV_KEY,
        LOGIN_KEY,
        BROKER_KEY,
        SMTP_KEY,
        SCREENER_API_KEY,
        ACCT_API_KEY,
        ALERT_KEY,
        NETWORK_CONFIG_KEY,
        BOT_IDENTITY_KEY,
    )
}

SECRETS: dict[str, SecretSpec] = {
    spec.name: spec
    for spec in (
        SecretSpec(
            "broker",
            "BROKER_CREDENTIALS_PATH",
            "storage/secrets/broker_credentials.json.enc",
            BROKER_KEY,
        ),
        SecretSpec(
            "smtp", "SMTP_CREDENTIALS_PATH", "storage/secrets/smtp_credentials.json.enc", SMTP_KEY
        ),
        SecretSpec(
            "screener_api",
            "SCREENER_API_PATH",
            "storage/secrets/screener_api.json.enc",
            SCREENER_API_KEY,
        ),
        SecretSpec(
            "acct_api",
            "ACCT_API_CREDENTIALS_PATH",
            "storage/secrets/acct_api_credentials.json.enc",
            ACCT_API_KEY,
        ),
        SecretSpec(
            "alert", "ALERT_CHANNELS_PATH", "storage/secrets/alert_channels.json.enc", ALERT_KEY
        ),
        SecretSpec(
            "network_config",
            "NETWORK_CONFIG_PATH",
            "storage/secrets/network_config.json.enc",
            NETWORK_CONFIG_KEY,
        ),
        SecretSpec(
            "bot_identity",
            "BOT_IDENTITY_PATH",
            "storage/secrets/bot_identity.json.enc",
            BOT_IDENTITY_KEY,
        ),
    )
}
