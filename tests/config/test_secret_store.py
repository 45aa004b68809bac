"""SecretStore: set, load, from-file, redact; bad input is refused and loses nothing."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.config.encrypted_files import EncryptedFileMissingError, read_key
from tbot.config.paths import HomePaths
from tbot.config.secret_names import SECRETS
from tbot.config.secret_store import (
    REDACTED,
    SecretStore,
    SecretValueError,
    UnknownSecretError,
    redact,
)
from tests.config.crypto_fixtures import frozen_clock, mode_of

BROKER = {"ALPACA": {"API_KEY": "AK1", "API_SECRET": "very-secret"}, "PAPER": True}


@pytest.fixture
def paths(tmp_path: Path) -> HomePaths:
    """An empty bot home."""
    return HomePaths(tmp_path)


@pytest.fixture
def store(paths: HomePaths) -> SecretStore:
    """The secret store of the empty home."""
    return SecretStore(paths)


@pytest.fixture
def stored(store: SecretStore) -> SecretStore:
    """A store already holding the broker secret."""
    store.set("broker", BROKER, frozen_clock())
    return store


def _json_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "input.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_set_then_load_round_trips(stored: SecretStore) -> None:
    assert stored.load("broker") == BROKER


def test_set_creates_the_secret_key_and_private_files(store: SecretStore, paths: HomePaths) -> None:
    report = store.set("smtp", {"SMTP_USER": "u"}, frozen_clock())
    written = paths.secret_file("smtp")
    assert report.replaced == [written]
    assert mode_of(written) == 0o600
    assert mode_of(paths.secret_key_file("smtp")) == 0o600
    assert b"SMTP_USER" not in written.read_bytes()


def test_set_again_rotates_the_secret_key(stored: SecretStore, paths: HomePaths) -> None:
    key_before = read_key(paths.secret_key_file("broker"))
    stored.set("broker", {"ALPACA": {}}, frozen_clock())
    assert read_key(paths.secret_key_file("broker")) != key_before
    assert stored.load("broker") == {"ALPACA": {}}


def test_exists_reports_only_written_secrets(stored: SecretStore) -> None:
    assert stored.exists("broker")
    assert not stored.exists("smtp")


def test_names_are_the_registry(store: SecretStore) -> None:
    assert store.names() == list(SECRETS)


@pytest.mark.parametrize("action", ["set", "load", "exists", "set_from_file"])
def test_unknown_secret_name_lists_the_valid_ones(
    store: SecretStore, tmp_path: Path, action: str
) -> None:
    calls = {
        "set": lambda: store.set("brokr", {}, frozen_clock()),
        "load": lambda: store.load("brokr"),
        "exists": lambda: store.exists("brokr"),
        "set_from_file": lambda: store.set_from_file(
            "brokr", _json_file(tmp_path, "{}"), frozen_clock()
        ),
    }
    with pytest.raises(UnknownSecretError) as caught:
        calls[action]()
    message = str(caught.value)
    assert "'brokr'" in message
    assert all(name in message for name in SECRETS)


@pytest.mark.parametrize("values", [["a", "b"], "text", 42, None], ids=str)
def test_set_refuses_values_that_are_not_an_object(stored: SecretStore, values: Any) -> None:
    with pytest.raises(SecretValueError, match="must be a JSON object"):
        stored.set("broker", values, frozen_clock())
    assert stored.load("broker") == BROKER


def test_set_refuses_values_json_cannot_hold_and_keeps_the_old_secret(
    stored: SecretStore,
) -> None:
    with pytest.raises(SecretValueError, match="cannot be stored as JSON") as caught:
        stored.set("broker", {"AMOUNT": Decimal("12.34")}, frozen_clock())
    assert "12.34" not in str(caught.value)
    assert stored.load("broker") == BROKER


def test_set_from_file_stores_the_object(store: SecretStore, tmp_path: Path) -> None:
    store.set_from_file("broker", _json_file(tmp_path, json.dumps(BROKER)), frozen_clock())
    assert store.load("broker") == BROKER


def test_malformed_json_file_is_located_but_never_echoed(
    stored: SecretStore, tmp_path: Path
) -> None:
    bad = _json_file(tmp_path, '{\n  "API_SECRET": "leaky-value-991",\n  oops\n}')
    with pytest.raises(SecretValueError) as caught:
        stored.set_from_file("broker", bad, frozen_clock())
    error = caught.value
    assert "not valid JSON" in str(error) and "line 3" in str(error)
    assert "leaky-value-991" not in str(error) and "leaky-value-991" not in repr(error)
    assert error.__cause__ is None and error.__context__ is None
    assert stored.load("broker") == BROKER


def test_json_file_holding_an_array_is_refused(stored: SecretStore, tmp_path: Path) -> None:
    with pytest.raises(SecretValueError, match="holds an array; expected a JSON object"):
        stored.set_from_file("broker", _json_file(tmp_path, '["x"]'), frozen_clock())
    assert stored.load("broker") == BROKER


def test_missing_input_file_is_reported(store: SecretStore, tmp_path: Path) -> None:
    with pytest.raises(SecretValueError, match="file not found"):
        store.set_from_file("broker", tmp_path / "absent.json", frozen_clock())
    assert not store.exists("broker")


def test_input_file_that_is_not_utf8_is_refused(store: SecretStore, tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"k": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(SecretValueError, match="not UTF-8"):
        store.set_from_file("broker", path, frozen_clock())


def test_loading_a_secret_never_written_names_the_file(
    store: SecretStore, paths: HomePaths
) -> None:
    store.set("smtp", {}, frozen_clock())  # the home has keys, but no broker secret
    expected = re.escape(str(paths.secret_file("broker")))
    with pytest.raises(EncryptedFileMissingError, match=expected):
        store.load("broker")


def test_redact_masks_every_leaf_and_keeps_the_shape() -> None:
    values = {
        "USER": "u",
        "PORT": 587,
        "TLS": True,
        "NESTED": {"A": "x", "B": {"C": None}},
        "LIST": [1, 2],
    }
    assert redact(values) == {
        "USER": REDACTED,
        "PORT": REDACTED,
        "TLS": REDACTED,
        "NESTED": {"A": REDACTED, "B": {"C": REDACTED}},
        "LIST": REDACTED,
    }
    assert values["NESTED"] == {"A": "x", "B": {"C": None}}  # the input is left alone


def test_redact_of_an_empty_object_is_empty() -> None:
    assert redact({}) == {}
