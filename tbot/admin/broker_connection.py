"""Opening the bot's configured broker account for commands that run without an engine
(`tbot broker check`, `tbot recon sync`): the simulated broker's state file, or Alpaca
through its `broker` secret. Every refusal is a `BrokerConnectionError` that says what to
fix, exits 2, and never contains a key."""

from __future__ import annotations

from tbot.admin.bot_home import BotHome
from tbot.admin.sim_account import sim_broker_settings
from tbot.broker.alpaca.adapter import AlpacaBroker, BrokerAuthError
from tbot.broker.alpaca.credentials import (
    AlpacaCredentials,
    AlpacaCredentialsError,
    check_live_allowed,
)
from tbot.broker.errors import BrokerError
from tbot.broker.protocol import BrokerAdapter
from tbot.broker.sim.sim_broker import SimBroker
from tbot.clock import Clock
from tbot.config.encrypted_files import CryptoError
from tbot.config.secret_store import SecretStore
from tbot.config.setting_types import BrokerName
from tbot.errors import EXIT_BAD_INPUT, TbotError


class BrokerConnectionError(TbotError):
    """The configured broker cannot be opened from this home; the message says why."""

    exit_code = EXIT_BAD_INPUT


def alpaca_credentials(home: BotHome) -> AlpacaCredentials:
    """The Alpaca credentials of `home`'s broker secret, checked (live needs LIVE_TRADING)."""
    store = SecretStore(home.paths)
    if not store.exists("broker"):
        raise BrokerConnectionError(
            "BROKER_NAME=ALPACA but the broker secret is not set: `tbot secrets set broker "
            "--from-file F` (see docs/configuration.md, Alpaca)")
    try:
        values = store.load("broker")
        credentials = AlpacaCredentials.from_secret(values)
        check_live_allowed(credentials, bool(home.config.bot.LIVE_TRADING))
    except (AlpacaCredentialsError, CryptoError) as error:
        raise BrokerConnectionError(str(error)) from None
    return credentials


def open_broker(home: BotHome, clock: Clock) -> BrokerAdapter:
    """The home's broker account, opened (nothing is fetched yet)."""
    bot = home.config.bot
    name = BrokerName(bot.BROKER_NAME)
    if name is BrokerName.SIM:
        state_file = home.paths.sim_broker_file
        if not state_file.exists():
            raise BrokerConnectionError(
                f"the simulated broker has no account yet ({state_file} does not exist): "
                "run the engine once first")
        return SimBroker.open(state_file, sim_broker_settings(bot, home.identity.bot_identity),
                              clock)
    if name is BrokerName.ALPACA:
        return AlpacaBroker(alpaca_credentials(home), clock,
                            timeout_seconds=float(bot.API_TIMEOUT),
                            max_requests_per_minute=int(bot.ALPACA_MAX_REQUESTS_PER_MINUTE))
    raise BrokerConnectionError(
        f"BROKER_NAME={bot.BROKER_NAME}: the {bot.BROKER_NAME} adapter is not built yet")


def preflight(broker: BrokerAdapter) -> None:
    """Before an engine trades through a real account: the key is accepted and the account
    is ACTIVE and not blocked. Each refusal is its own `BrokerConnectionError` (exit 2)."""
    if not isinstance(broker, AlpacaBroker):
        return
    try:
        record = broker.account_record()
    except BrokerAuthError as error:
        raise BrokerConnectionError(error.message) from None
    except BrokerError as error:
        raise BrokerConnectionError(
            f"Alpaca cannot be reached to start trading: {error.message}") from None
    status = str(record.get("status") or "unknown")
    if status != "ACTIVE":
        raise BrokerConnectionError(
            f"the Alpaca account is {status}, not ACTIVE: it cannot trade (see `tbot broker "
            "check`)")
    if record.get("trading_blocked") or record.get("account_blocked"):
        raise BrokerConnectionError(
            "Alpaca has blocked trading on this account (see `tbot broker check`)")
