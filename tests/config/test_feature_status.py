"""Settings whose feature is not built are said plainly: by `tbot config validate`, at
engine start, and TRADE_CONFIRMATION_REQUIRED=true refuses to trade at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.feature_status import NOT_BUILT, unbuilt_settings
from tbot.config.loader import parse_bot_text, template_text
from tbot.config.setting_types import BrokerName
from tests.cli.cli_support import replace_setting
from tests.engine.engine_process import init_home, run_tbot


@pytest.fixture(scope="module")
def template_bot() -> BotSettings:
    return parse_bot_text(template_text(".env_bot"), "template")


def test_every_entry_names_a_real_setting(template_bot: BotSettings) -> None:
    for entry in NOT_BUILT:
        assert hasattr(template_bot, entry.key), entry.key


def test_the_template_s_inert_looking_keys_are_reported(template_bot: BotSettings) -> None:
    keys = [unbuilt.key for unbuilt in unbuilt_settings(template_bot)]
    assert "FAILOVER_ENABLED" in keys and "SLEEP_TIME" in keys
    assert "MAX_DRAWDOWN_PCT" not in keys and "MIN_EQUITY" not in keys  # the drawdown guard
    for built in ("CLOSE_MIN_INTERVAL_SECONDS", "PRICE_GAP_ALERT_PCT", "MAX_SLIPPAGE_BPS",
                  "LIQUIDITY_CHECK_ENABLED"):  # the close throttle and the market guard
        assert built not in keys
    assert "TRADE_CONFIRMATION_REQUIRED" not in keys  # built: the approval queue
    assert "ENABLE_VIX_GATE" not in keys  # the simulated market has a VIX


def test_inert_values_say_nothing(template_bot: BotSettings) -> None:
    quiet = template_bot.model_copy(update={"FAILOVER_ENABLED": False, "RBAC_ENABLED": True})
    keys = [unbuilt.key for unbuilt in unbuilt_settings(quiet)]
    assert "FAILOVER_ENABLED" not in keys and "RBAC_ENABLED" not in keys
    assert "RBAC_ENABLED" in [u.key for u in unbuilt_settings(
        template_bot.model_copy(update={"RBAC_ENABLED": False}))]


def test_the_vix_gate_on_alpaca_is_said_to_have_no_source(template_bot: BotSettings) -> None:
    alpaca = template_bot.model_copy(update={"BROKER_NAME": BrokerName.ALPACA})
    [vix] = [u for u in unbuilt_settings(alpaca) if u.key == "ENABLE_VIX_GATE"]
    assert "no VIX source" in vix.message


def test_the_spread_check_on_alpaca_is_said_to_have_no_quotes(
    template_bot: BotSettings,
) -> None:
    alpaca = template_bot.model_copy(update={"BROKER_NAME": BrokerName.ALPACA})
    [liquidity] = [u for u in unbuilt_settings(alpaca) if u.key == "LIQUIDITY_CHECK_ENABLED"]
    assert "reads no quotes yet" in liquidity.message


def test_config_validate_lists_them(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    result = run_tbot("config", "validate", "--home", home)
    assert result.returncode == 0
    assert "not built yet: FAILOVER_ENABLED=true: failover broker routing" in result.stdout
    as_json = json.loads(run_tbot("config", "validate", "--home", home, "--json").stdout)
    assert {"key": "SLEEP_TIME", "refuses_trading": False}.items() <= next(
        item for item in as_json["not_built"] if item["key"] == "SLEEP_TIME").items()


def test_trade_confirmation_required_is_built_and_says_nothing(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    replace_setting(home, "TRADE_CONFIRMATION_REQUIRED", "true")
    validated = run_tbot("config", "validate", "--home", home)
    assert validated.returncode == 0
    assert "TRADE_CONFIRMATION_REQUIRED" not in validated.stdout
