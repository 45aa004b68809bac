"""The value types of `.env` and `.env_bot` settings, and how one setting is checked alone.

Each type is an `Annotated` pydantic type carrying an `Expected` marker: the words a person
reads when the value is wrong ("true or false", "HH:MM in UTC, e.g. 14:30"). Parsing is
strict on purpose: booleans are only true/false, numbers are plain decimals (never floats),
lists are comma-separated with no empty items. Text from a file is parsed; values that are
already typed (a settings object built in Python) are checked by the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from pathlib import PurePosixPath
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, TypeAdapter, ValidationError


@dataclass(frozen=True)
class Expected:
    """What a person should write for a setting, in words; shown in every problem about it."""

    text: str


@dataclass(frozen=True)
class RuleBreach:
    """A cross-field rule broken by a set of settings: the key to blame and what it needs."""

    key: str
    expected: str


# -- enumerations ------------------------------------------------------------------------


class Environment(StrEnum):
    """ENVIRONMENT: what kind of installation this home is."""

    PRODUCTION = "production"
    DEVELOPMENT = "development"


class BuildMode(StrEnum):
    """BUILD_MODE."""

    DEBUG = "debug"
    RELEASE = "release"


class LogLevel(StrEnum):
    """DEBUG_LOG_LEVEL."""

    QUIET = "quiet"
    INFO = "info"
    VERBOSE = "verbose"


class LogFormat(StrEnum):
    """LOG_FORMAT: structured or flat log lines."""

    JSON = "json"
    CSV = "csv"


class LedgerExportMode(StrEnum):
    """LEDGER_EXPORT_MODE."""

    AUTO = "auto"
    OFF = "off"


class BrokerName(StrEnum):
    """BROKER_NAME: the one broker switch. SIM is the built-in simulated broker."""

    ALPACA = "ALPACA"
    IBKR = "IBKR"
    SIM = "SIM"


class DataFailureAction(StrEnum):
    """DATA_FAILURE_ACTION: what the engine does when its market data stops."""

    HALT = "halt"
    FLATTEN = "flatten"
    SHUTDOWN = "shutdown"


class MarketGuardAction(StrEnum):
    """MARKET_GUARD_POSITION_ACTION: what the market guard does to a position it flags."""

    REVIEW = "review"
    CLOSE = "close"


class ShortType(StrEnum):
    """SHORT_TYPE_*: how a strategy expresses a bearish signal."""

    INVERSE_ETF = "InverseETF"
    LONG_PUT = "LongPut"
    SHORT_SELL = "ShortSell"
    DISABLED = "disabled"


class StrategyName(StrEnum):
    """The three intraday strategies."""

    OPEN = "open"
    MID = "mid"
    CLOSE = "close"


class Weekday(StrEnum):
    """A trading day name as TRADING_DAYS spells it."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def index(self) -> int:
        """The day as `date.weekday()` numbers it: Monday is 0."""
        return list(Weekday).index(self)


class OptimizerAlgorithm(StrEnum):
    """OPTIMIZER_ALGORITHM."""

    GRID_SEARCH = "grid_search"
    BAYESIAN = "bayesian"
    GENETIC = "genetic"


class CriticalAlertChannel(StrEnum):
    """CRITICAL_ALERT_CHANNEL."""

    EMAIL = "email"
    SLACK = "slack"
    SMS = "sms"
    PAGERDUTY = "pagerduty"


class RoutineAlertChannel(StrEnum):
    """ROUTINE_ALERT_CHANNEL."""

    EMAIL = "email"
    SLACK = "slack"


class SlippageSimulation(StrEnum):
    """SLIPPAGE_SIMULATION_TYPE."""

    NONE = "none"
    RULE_BASED = "rule_based"
    RANDOMIZED = "randomized"


class RiskFreeRateSource(StrEnum):
    """RISK_FREE_RATE_SOURCE."""

    STATIC = "static"
    DYNAMIC = "dynamic"


class UserRole(StrEnum):
    """DEFAULT_USER_ROLE: the roles of the control protocol."""

    ADMIN = "admin"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    VIEWER = "viewer"


E = TypeVar("E", bound=StrEnum)


def one_of(enum_type: type[StrEnum]) -> Expected:
    """The `Expected` words for an enumeration: ``one of: json, csv``."""
    return Expected("one of: " + ", ".join(member.value for member in enum_type))


def canonical(enum_type: type[E]) -> Callable[[Any], Any]:
    """A validator that accepts any letter case and stores the canonical spelling."""
    by_folded = {member.value.casefold(): member for member in enum_type}

    def to_member(value: Any) -> Any:
        if isinstance(value, enum_type):
            return value
        if isinstance(value, str) and value.casefold() in by_folded:
            return by_folded[value.casefold()]
        raise ValueError("")

    return to_member


# -- scalar parsers ----------------------------------------------------------------------
# Each raises ValueError with an optional detail; the `Expected` words say the rest.

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_HH_MM = re.compile(r"(\d{1,2}):(\d{2})")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)", re.IGNORECASE)
_DURATION_UNIT_MICROSECONDS = {
    "ms": Decimal(1_000),
    "s": Decimal(1_000_000),
    "m": Decimal(60_000_000),
    "h": Decimal(3_600_000_000),
}
_VERSION_TAG = re.compile(r"v\d+\.\d+\.\d+(?:[-+.][0-9A-Za-z.+-]+)?")
_LOG_TAG = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SYMBOL = re.compile(r"[A-Z][A-Z0-9.]{0,9}")
_MAX_QUANTITY_PLACES = 9


def parse_bool(value: Any) -> Any:
    """Exactly ``true`` or ``false`` in any case; yes/no/1/0/on/off are refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    raise ValueError("")


def parse_int(value: Any) -> Any:
    """A whole number written in digits (no decimal point, no underscores)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ValueError("")


def parse_decimal(value: Any) -> Any:
    """A plain decimal number, kept exact. Floats are refused: they already lost precision."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            raise ValueError("") from None
    raise ValueError("")


def parse_utc_time(value: Any) -> Any:
    """``HH:MM`` on a 24-hour clock, as an aware UTC `time`."""
    if isinstance(value, time):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and (match := _HH_MM.fullmatch(value)):
        hour, minute = int(match[1]), int(match[2])
        if hour < 24 and minute < 60:
            return time(hour, minute, tzinfo=UTC)
    raise ValueError("")


def parse_duration(value: Any) -> Any:
    """A positive duration such as ``1s``, ``500ms``, ``2m`` or ``1h``."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        micros = Decimal(match[1]) * _DURATION_UNIT_MICROSECONDS[match[2].lower()]
        if micros != micros.to_integral_value():
            raise ValueError("finer than a microsecond")
        duration = timedelta(microseconds=int(micros))
    else:
        raise ValueError("")
    if duration <= timedelta(0):
        raise ValueError("it must be longer than zero")
    return duration


def parse_relative_path(value: Any) -> Any:
    """A path relative to the bot home that cannot leave it: no leading ``/``, no ``..``."""
    if isinstance(value, PurePosixPath):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ValueError("")
    if value.startswith(("/", "~")) or re.match(r"[A-Za-z]:", value):
        raise ValueError("it is absolute")
    if "\\" in value:
        raise ValueError("use / between folders")
    path = PurePosixPath(value)
    if ".." in path.parts:
        raise ValueError("'..' would leave the bot home")
    if path == PurePosixPath("."):
        raise ValueError("it names the home itself")
    return path


def comma_items(value: Any) -> list[Any]:
    """The items of a comma-separated list; an already-split sequence passes through."""
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
        if any(not item for item in items):
            raise ValueError("an item is empty (check for a doubled or trailing comma)")
        return items
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError("")


def unique_members(enum_type: type[E]) -> Callable[[Any], tuple[E, ...]]:
    """A validator for a non-empty, duplicate-free comma list of `enum_type` values."""
    to_member = canonical(enum_type)

    def parse(value: Any) -> tuple[E, ...]:
        members: list[E] = []
        for item in comma_items(value):
            try:
                member = to_member(item)
            except ValueError:
                raise ValueError(f"{item!r} is not one of them") from None
            if member in members:
                raise ValueError(f"{member.value!r} appears twice")
            members.append(member)
        if not members:
            raise ValueError("the list is empty")
        return tuple(members)

    return parse


def parse_symbols(value: Any) -> tuple[str, ...]:
    """A comma list of ticker symbols, each once; empty text is the empty list."""
    if isinstance(value, str) and not value.strip():
        return ()
    symbols: list[str] = []
    for item in comma_items(value):
        symbol = str(item).upper()
        if not _SYMBOL.fullmatch(symbol):
            raise ValueError(f"{item!r} is not a ticker symbol")
        if symbol in symbols:
            raise ValueError(f"{symbol!r} appears twice")
        symbols.append(symbol)
    return tuple(symbols)


def split_listen_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) as (host, port). Raises ValueError."""
    host, separator, port_text = text.strip().rpartition(":")
    if not separator or not host or not port_text.isdigit():
        raise ValueError(f"{text!r} is not host:port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return host.strip("[]"), port


def parse_listen_address(value: Any) -> str:
    """An address to listen on, ``host:port``, or empty text for none."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    if value.strip():
        split_listen_address(value)
    return value.strip()


def parse_weights(value: Any) -> tuple[Decimal, ...]:
    """Trade weights: fractions in (0, 1] that add up to exactly 1."""
    weights: list[Decimal] = []
    for position, item in enumerate(comma_items(value), start=1):
        try:
            weight = parse_decimal(item)
        except ValueError:
            raise ValueError(f"weight {position} ({item!r}) is not a number") from None
        if not Decimal(0) < weight <= Decimal(1):
            raise ValueError(f"weight {position} ({weight}) is not in (0, 1]")
        weights.append(weight)
    if not weights:
        raise ValueError("the list is empty")
    total = sum(weights, Decimal(0))
    if total != Decimal(1):
        raise ValueError(f"they sum to {total}")
    return tuple(weights)


def parse_strategy_override(value: Any) -> Any:
    """One strategy name, or ``none`` for the normal sequence. An empty value is refused so
    that "no override" is always written down."""
    if value is None or isinstance(value, StrategyName):
        return value
    if isinstance(value, str):
        if not value:
            raise ValueError("the value is empty: write none for no override")
        if value.casefold() == "none":
            return None
        return canonical(StrategyName)(value)
    raise ValueError("")


def check_quantity_places(quantity: Decimal) -> Decimal:
    """Quantities are stored to 9 decimal places; more would be silently rounded later."""
    exponent = quantity.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MAX_QUANTITY_PLACES:
        raise ValueError(f"more than {_MAX_QUANTITY_PLACES} decimal places")
    return quantity


def matches(pattern: re.Pattern[str]) -> Callable[[Any], Any]:
    """A validator for text that must match `pattern` in full."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and pattern.fullmatch(value):
            return value
        raise ValueError("")

    return check



@dataclass(frozen=True)
class RoleGrant:
    """One CONTROL_ROLES item: who (a principal) gets which control-protocol role.

    `kind` is ``owner`` (the uid the engine runs as), ``uid`` (a number), ``user`` or
    ``group`` (names resolved when the engine starts); `name` is the number or name.
    """

    kind: str
    name: str
    role: UserRole

    @property
    def principal(self) -> str:
        """The principal as written in the file: ``@owner``, ``uid:1001``, ``user:alice``."""
        return "@owner" if self.kind == "owner" else f"{self.kind}:{self.name}"


_PRINCIPAL = re.compile(
    r"@owner|uid:[0-9]{1,10}|user:[a-z_][a-z0-9_.-]{0,31}\$?|group:[a-z_][a-z0-9_.-]{0,31}\$?"
)


def parse_role_grants(value: Any) -> tuple[RoleGrant, ...]:
    """CONTROL_ROLES: ``principal=role`` items, e.g. ``@owner=admin,group:tbot-ops=operator``.

    A principal may appear once; a uid absent from every grant gets no access at all.
    """
    if isinstance(value, tuple) and all(isinstance(item, RoleGrant) for item in value):
        return value
    grants: list[RoleGrant] = []
    seen: set[str] = set()
    for item in comma_items(value):
        principal, equals, role_text = str(item).partition("=")
        principal, role_text = principal.strip(), role_text.strip()
        if not equals or not _PRINCIPAL.fullmatch(principal):
            raise ValueError(f"{item!r} is not principal=role")
        try:
            role = canonical(UserRole)(role_text)
        except ValueError:
            raise ValueError(f"{role_text!r} in {item!r} is not a role") from None
        if principal in seen:
            raise ValueError(f"{principal} appears twice")
        seen.add(principal)
        kind, _, name = principal.partition(":")
        if kind == "@owner":
            kind = "owner"
        grants.append(RoleGrant(kind, name, role))
    if not grants:
        raise ValueError("the list is empty")
    return tuple(grants)


class SimFault(StrEnum):
    """SIM_FAULTS: what the simulated broker's fault mode may do, each at most once per
    simulated UTC day (the cash and account faults from 15:00 UTC). The one definition;
    `tbot.broker.sim.faults` applies them."""

    PHANTOM_FILL = "phantom_fill"
    """A fill the engine never saw: in the trade reports, cash and positions, but never
    returned from `on_bars`."""
    DROP_FILL = "drop_fill"
    """A real fill returned from `on_bars` but missing from the trade reports."""
    RESTATE_PRICE = "restate_price"
    """A fill returned from `on_bars` at one price and reported (and booked) at another."""
    DIVIDEND = "dividend"
    """A ``DIV`` cash activity on a symbol."""
    DEPOSIT = "deposit"
    """A ``CSD`` cash activity."""
    UNKNOWN_FEE = "unknown_fee"
    """A cash activity of a type no mapping knows (``MISCFEE``), taking cash out."""
    PENDING_FILL = "pending_fill"
    """A real fill (the first after drop_fill and restate_price took theirs) reported with
    status ``pending`` for 30 simulated minutes, then ``executed``."""
    CASH_DRIFT = "cash_drift"
    """The broker's cash moves by -0.37 with no cash activity reported (a silent
    adjustment)."""
    UNKNOWN_POSITION = "unknown_position"
    """5 shares of the alphabetically first priced symbol not held appear in the account
    (a transfer-in at the last price): no fill, no cash movement."""


def parse_sim_faults(value: Any) -> frozenset[SimFault]:
    """SIM_FAULTS: ``none`` or a comma list of `SimFault` names."""
    if isinstance(value, frozenset):
        return value
    if isinstance(value, str) and value.strip().casefold() == "none":
        return frozenset()
    return frozenset(unique_members(SimFault)(value))

# -- setting types -----------------------------------------------------------------------

Flag = Annotated[bool, BeforeValidator(parse_bool), Expected("true or false")]

PositiveInt = Annotated[
    int, BeforeValidator(parse_int), Field(ge=1), Expected("a whole number, 1 or more")
]
NonNegativeInt = Annotated[
    int, BeforeValidator(parse_int), Field(ge=0), Expected("a whole number, 0 or more")
]
Seconds = Annotated[
    int,
    BeforeValidator(parse_int),
    Field(ge=1),
    Expected("a whole number of seconds, 1 or more"),
]
Minutes = Annotated[
    int,
    BeforeValidator(parse_int),
    Field(ge=1),
    Expected("a whole number of minutes, 1 or more"),
]
Days = Annotated[
    int, BeforeValidator(parse_int), Field(ge=1), Expected("a whole number of days, 1 or more")
]
Milliseconds = Annotated[
    int,
    BeforeValidator(parse_int),
    Field(ge=0),
    Expected("a whole number of milliseconds, 0 or more"),
]

Fraction = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(ge=0, le=1),
    Expected("a fraction between 0 and 1, e.g. 0.02 for 2%"),
]
Percent = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(ge=0, le=100),
    Expected("a percentage between 0 and 100, e.g. 10 for 10%"),
]
BasisPoints = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(ge=0, le=10_000),
    Expected("basis points between 0 and 10000 (100 bps = 1%), e.g. 50"),
]
UsdAmount = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(ge=0),
    Expected("an amount in USD, 0 or more, e.g. 100"),
]
PositiveNumber = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(gt=0),
    Expected("a number greater than 0, e.g. 2.5"),
]
NonNegativeNumber = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(ge=0),
    Expected("a number, 0 or more, e.g. 15"),
]
ShareQuantity = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(gt=0),
    AfterValidator(check_quantity_places),
    Expected("a number of shares greater than 0 with at most 9 decimal places, e.g. 0.01"),
]

UtcTime = Annotated[time, BeforeValidator(parse_utc_time), Expected("HH:MM in UTC, e.g. 14:30")]
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    Expected("a duration above zero such as 1s, 500ms, 2m or 1h"),
]
RelativePath = Annotated[
    PurePosixPath,
    BeforeValidator(parse_relative_path),
    Expected("a path relative to the bot home, with / between folders and no '..'"),
]
VersionTag = Annotated[
    str, BeforeValidator(matches(_VERSION_TAG)), Expected("a version tag such as v0.1.0")
]
LogTag = Annotated[
    str,
    BeforeValidator(matches(_LOG_TAG)),
    Expected("a tag of 1-64 letters, digits, '_' or '-', e.g. FAILOVER_ACTIVE"),
]

EnvironmentChoice = Annotated[
    Environment, BeforeValidator(canonical(Environment)), one_of(Environment)
]
BuildModeChoice = Annotated[BuildMode, BeforeValidator(canonical(BuildMode)), one_of(BuildMode)]
LogLevelChoice = Annotated[LogLevel, BeforeValidator(canonical(LogLevel)), one_of(LogLevel)]
LogFormatChoice = Annotated[LogFormat, BeforeValidator(canonical(LogFormat)), one_of(LogFormat)]
LedgerExportModeChoice = Annotated[
    LedgerExportMode, BeforeValidator(canonical(LedgerExportMode)), one_of(LedgerExportMode)
]
BrokerNameChoice = Annotated[
    BrokerName, BeforeValidator(canonical(BrokerName)), one_of(BrokerName)
]
ShortTypeChoice = Annotated[ShortType, BeforeValidator(canonical(ShortType)), one_of(ShortType)]
DataFailureActionChoice = Annotated[
    DataFailureAction, BeforeValidator(canonical(DataFailureAction)), one_of(DataFailureAction)
]
MarketGuardActionChoice = Annotated[
    MarketGuardAction, BeforeValidator(canonical(MarketGuardAction)), one_of(MarketGuardAction)
]
OptimizerAlgorithmChoice = Annotated[
    OptimizerAlgorithm,
    BeforeValidator(canonical(OptimizerAlgorithm)),
    one_of(OptimizerAlgorithm),
]
CriticalAlertChannelChoice = Annotated[
    CriticalAlertChannel,
    BeforeValidator(canonical(CriticalAlertChannel)),
    one_of(CriticalAlertChannel),
]
RoutineAlertChannelChoice = Annotated[
    RoutineAlertChannel,
    BeforeValidator(canonical(RoutineAlertChannel)),
    one_of(RoutineAlertChannel),
]
SlippageSimulationChoice = Annotated[
    SlippageSimulation,
    BeforeValidator(canonical(SlippageSimulation)),
    one_of(SlippageSimulation),
]
RiskFreeRateSourceChoice = Annotated[
    RiskFreeRateSource,
    BeforeValidator(canonical(RiskFreeRateSource)),
    one_of(RiskFreeRateSource),
]
UserRoleChoice = Annotated[UserRole, BeforeValidator(canonical(UserRole)), one_of(UserRole)]

TradingDays = Annotated[
    tuple[Weekday, ...],
    BeforeValidator(unique_members(Weekday)),
    Expected("a comma list of day names from mon, tue, wed, thu, fri, sat, sun, each once"),
]
SymbolList = Annotated[
    tuple[str, ...],
    BeforeValidator(parse_symbols),
    Expected("a comma list of ticker symbols (e.g. AAPL,MSFT,BRK.B), or nothing"),
]
ListenAddress = Annotated[
    str,
    BeforeValidator(parse_listen_address),
    Expected("host:port to listen on (e.g. 127.0.0.1:9108), or nothing for off"),
]
StrategySequence = Annotated[
    tuple[StrategyName, ...],
    BeforeValidator(unique_members(StrategyName)),
    Expected("a comma list from open, mid, close, each at most once, e.g. open,mid,close"),
]
StrategyOverride = Annotated[
    StrategyName | None,
    BeforeValidator(parse_strategy_override),
    Expected("one of: open, mid, close, none"),
]
Weights = Annotated[
    tuple[Decimal, ...],
    BeforeValidator(parse_weights),
    Expected(
        "a comma list of fractions in (0, 1], one per trade, that sum to exactly 1, "
        "e.g. 0.4,0.2,0.2,0.2"
    ),
]


ControlRoles = Annotated[
    tuple[RoleGrant, ...],
    BeforeValidator(parse_role_grants),
    Expected(
        "a comma list of principal=role, principals being @owner, uid:N, user:NAME or "
        "group:NAME and roles admin, operator, auditor or viewer, e.g. @owner=admin"
    ),
]
SimFaults = Annotated[
    frozenset[SimFault],
    BeforeValidator(parse_sim_faults),
    Expected(
        "none, or a comma list from phantom_fill, drop_fill, restate_price, dividend, "
        "deposit, unknown_fee, pending_fill, cash_drift, unknown_position"
    ),
]

# -- checking one setting alone ----------------------------------------------------------


@dataclass(frozen=True)
class FieldCheck:
    """Validates the value of one setting on its own, so every bad key can be reported."""

    key: str
    adapter: TypeAdapter[Any]
    expected: str

    def describe(self, error: ValidationError) -> str:
        """The `expected` words, plus the validator's detail when it has one."""
        details = [
            str(item["ctx"]["error"])
            for item in error.errors(include_url=False)
            if item["type"] == "value_error" and str(item.get("ctx", {}).get("error", ""))
        ]
        return f"{self.expected} ({'; '.join(details)})" if details else self.expected


def expected_words(metadata: Iterable[Any]) -> str:
    """The text of the `Expected` marker among a field's metadata."""
    for item in metadata:
        if isinstance(item, Expected):
            return item.text
    raise TypeError("a setting type must carry an Expected(...) marker")


@cache
def field_checks(model: type[BaseModel]) -> dict[str, FieldCheck]:
    """One `FieldCheck` per field of a settings model, in declaration order; built once."""
    checks: dict[str, FieldCheck] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        annotated = Annotated[(info.annotation, *info.metadata)]  # type: ignore[valid-type]
        checks[key] = FieldCheck(key, TypeAdapter(annotated), expected_words(info.metadata))
    return checks
