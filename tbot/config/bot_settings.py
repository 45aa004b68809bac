"""`.env_bot`: everything that drives trading, risk, strategies, guards and reporting.

Field names are the file's keys, grouped as in `.env_bot.template`. Every key is required:
a disabled feature is written as disabled, never left out. Fractions, money, percentages
and thresholds are `Decimal`; times of day are aware UTC `time`s.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from tbot.config.setting_types import (
    BasisPoints,
    BrokerName,
    BrokerNameChoice,
    BuildModeChoice,
    CriticalAlertChannelChoice,
    DataFailureActionChoice,
    Days,
    Duration,
    Flag,
    Fraction,
    LedgerExportModeChoice,
    ListenAddress,
    LogFormatChoice,
    LogLevelChoice,
    LogTag,
    MarketGuardActionChoice,
    Milliseconds,
    Minutes,
    NonNegativeInt,
    NonNegativeNumber,
    OptimizerAlgorithmChoice,
    Percent,
    PositiveInt,
    PositiveNumber,
    RelativePath,
    RiskFreeRateSourceChoice,
    RoutineAlertChannelChoice,
    RuleBreach,
    Seconds,
    ShareQuantity,
    ShortType,
    ShortTypeChoice,
    SimFaults,
    SlippageSimulationChoice,
    StrategyOverride,
    StrategySequence,
    SymbolList,
    TradingDays,
    UsdAmount,
    UserRoleChoice,
    UtcTime,
    VersionTag,
    Weights,
    canonical,
    one_of,
)

SESSIONS = ("OPEN", "MID", "CLOSE")


class UnavailablePolicy(StrEnum):
    """FUNDAMENTALS_UNAVAILABLE: what the fundamentals guard does when its source cannot
    answer (it alerts either way)."""

    BLOCK = "block"
    ALLOW = "allow"


UnavailablePolicyChoice = Annotated[
    UnavailablePolicy, BeforeValidator(canonical(UnavailablePolicy)), one_of(UnavailablePolicy)
]


class BotSettings(BaseModel):
    """The validated `.env_bot`. Field names are the file's keys; every key is required."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # General & Debugging
    VERSION_TAG: VersionTag
    BUILD_MODE: BuildModeChoice
    DISABLE_ALL_TRADES: Flag
    DEBUG_LOG_LEVEL: LogLevelChoice
    ENABLE_LOGGING: Flag
    LOG_FORMAT: LogFormatChoice

    # Trade Execution & Risk Controls
    TRADE_CONFIRMATION_REQUIRED: Flag
    API_RETRY_LIMIT: NonNegativeInt
    BROKER_RECOVERY_SECONDS: Seconds
    DATA_FAILURE_ACTION: DataFailureActionChoice
    API_TIMEOUT: Seconds
    FRACTIONAL: Flag
    TOTAL_ALLOCATION: Fraction
    MAX_TRADES: PositiveInt
    WEIGHTS: Weights
    DAILY_LOSS_LIMIT: Fraction
    MAX_RISK_PER_TRADE: Fraction
    MAX_OPEN_POSITIONS: PositiveInt
    CLOSE_POSITIONS_ON_SHUTDOWN: Flag

    # Price & Volume Filters
    MIN_PRICE: UsdAmount
    MAX_PRICE: UsdAmount
    MIN_VOLUME_THRESHOLD: NonNegativeInt
    ENABLE_FINNHUB_FUNDAMENTALS_FILTER: Flag
    MAX_PE_RATIO: PositiveNumber
    MAX_DEBT_EQUITY: NonNegativeNumber
    FUNDAMENTALS_UNAVAILABLE: UnavailablePolicyChoice

    # Strategy Routing & Broker Mode
    BROKER_NAME: BrokerNameChoice
    STRATEGY_SEQUENCE: StrategySequence
    STRATEGY_OVERRIDE: StrategyOverride

    # Alpaca
    ALPACA_MAX_REQUESTS_PER_MINUTE: PositiveInt
    LIVE_TRADING: Flag
    DATA_STALE_SECONDS: Seconds

    # Simulated Broker
    SIM_STARTING_CASH: PositiveNumber
    SIM_FEE_PER_SHARE: UsdAmount
    SIM_SLIPPAGE_BPS: BasisPoints
    SIM_MAX_VOLUME_PARTICIPATION: Fraction
    SIM_SEED: NonNegativeInt
    SIM_FAULTS: SimFaults

    # Automated Rebalance Triggers
    REBALANCE_ENABLED: Flag
    REBALANCE_THRESHOLD: Fraction
    REBALANCE_CHECK_INTERVAL: Seconds

    # Failover Broker Routing
    FAILOVER_ENABLED: Flag
    FAILOVER_LOG_TAG: LogTag

    # Global Time & Polling
    TRADING_DAYS: TradingDays
    TRADING_UNIVERSE: SymbolList
    SLEEP_TIME: Duration

    # OPEN Strategy
    MAX_GAP_PCT_OPEN: Fraction
    MIN_MARKET_CAP_OPEN: UsdAmount
    MAX_MARKET_CAP_OPEN: UsdAmount
    STRAT_OPEN_ENABLED: Flag
    START_TIME_OPEN: UtcTime
    OPEN_ANALYSIS_TIME: Minutes
    OPEN_BREAKOUT_TIME: Minutes
    OPEN_MONITORING_TIME: Minutes
    STRAT_OPEN_BUFFER: Fraction
    SHORT_TYPE_OPEN: ShortTypeChoice

    # MID Strategy
    MAX_GAP_PCT_MID: Fraction
    MIN_MARKET_CAP_MID: UsdAmount
    MAX_MARKET_CAP_MID: UsdAmount
    STRAT_MID_ENABLED: Flag
    START_TIME_MID: UtcTime
    MID_ANALYSIS_TIME: Minutes
    MID_BREAKOUT_TIME: Minutes
    MID_MONITORING_TIME: Minutes
    STRAT_MID_VWAP_THRESHOLD: Fraction
    SHORT_TYPE_MID: ShortTypeChoice
    STRAT_MID_STOP_LOSS: Fraction
    ENABLE_ADX_FILTER: Flag
    MID_ADX_MAX: NonNegativeNumber
    ENABLE_BOLLINGER_FILTER: Flag

    # CLOSE Strategy
    MAX_GAP_PCT_CLOSE: Fraction
    MIN_MARKET_CAP_CLOSE: UsdAmount
    MAX_MARKET_CAP_CLOSE: UsdAmount
    STRAT_CLOSE_ENABLED: Flag
    START_TIME_CLOSE: UtcTime
    CLOSE_ANALYSIS_TIME: Minutes
    CLOSE_BREAKOUT_TIME: Minutes
    CLOSE_MONITORING_TIME: Minutes
    STRAT_CLOSE_VIX_THRESHOLD: NonNegativeNumber
    ENABLE_VIX_GATE: Flag
    STRAT_CLOSE_MIN_DAY_MOVE: Fraction
    STRAT_CLOSE_MIN_LATE_MOVE: Fraction
    STRAT_CLOSE_SPIKE_MOVE: Fraction
    STRAT_CLOSE_FADE_RETRACE: Fraction
    STRAT_CLOSE_MIN_RELATIVE_VOLUME: NonNegativeNumber
    STRAT_CLOSE_STOP_LOSS: Fraction
    STRAT_CLOSE_EXIT_LEAD_MINUTES: Minutes
    SHORT_TYPE_CLOSE: ShortTypeChoice

    # Notifications
    NOTIFY_ON_FILL: Flag
    NOTIFY_ON_EXIT: Flag
    NOTIFY_ON_FAILURE: Flag
    CRITICAL_ALERT_CHANNEL: CriticalAlertChannelChoice
    ROUTINE_ALERT_CHANNEL: RoutineAlertChannelChoice

    # Telemetry
    METRICS_LISTEN: ListenAddress

    # Reporting & Ledger
    LEDGER_EXPORT_MODE: LedgerExportModeChoice
    LEDGER_BACKUP_RETENTION_DAYS: Days
    LEDGER_BACKUP_KEEP_PER_DAY: PositiveInt
    LOG_ROTATE_MAX_MB: PositiveInt
    ARCHIVE_AFTER_DAYS: Days

    # Defense Mode
    DEFENSE_MODE_ACTIVE: Flag
    DEFENSE_MODE_TRADE_LIMIT_PCT: Percent
    DEFENSE_MODE_TOTAL_ALLOCATION: Fraction
    DEFENSE_MODE_AUTO_DRAWDOWN_PCT: Percent
    DEFENSE_MODE_AUTO_WIN_RATE: Fraction
    DEFENSE_MODE_WIN_RATE_TRADES: PositiveInt

    # Drawdown, market and reconciliation guards
    MAX_DRAWDOWN_PCT: Percent
    MIN_EQUITY: UsdAmount
    PRICE_GAP_ALERT_PCT: Percent
    LIQUIDITY_CHECK_ENABLED: Flag
    MARKET_GUARD_POSITION_ACTION: MarketGuardActionChoice
    RECONCILIATION_SYNC_INTERVAL: Seconds
    DRAWDOWN_CHECK_INTERVAL: Seconds
    MARKET_CHECK_INTERVAL: Seconds
    MIN_POSITION_QTY: ShareQuantity
    MAX_SLIPPAGE_BPS: BasisPoints
    LIQUIDITY_SPREAD_THRESHOLD_BPS: BasisPoints
    AUTO_CLOSE_WARNING_SECONDS: Seconds
    SYNC_MIN_INTERVAL_SECONDS: Seconds
    SYNC_LOOKBACK_DAYS: Days
    STARTUP_RECON_BLOCKS_TRADING: Flag
    RECON_CASH_TOLERANCE: UsdAmount
    MAPPING_AUTO_APPLY_CONFIDENCE: Fraction
    CLOSE_MIN_INTERVAL_SECONDS: Seconds

    # Enhancements: rebalance notification
    ENABLE_REBALANCE_NOTIFIER: Flag
    REBALANCE_TRIGGER_PCT: Percent

    # Enhancements: role-based access
    RBAC_ENABLED: Flag
    DEFAULT_USER_ROLE: UserRoleChoice

    # Enhancements: strategy optimizer
    ENABLE_STRATEGY_OPTIMIZER: Flag
    OPTIMIZER_BACKTEST_LOOKBACK_DAYS: Days
    OPTIMIZER_ALGORITHM: OptimizerAlgorithmChoice
    OPTIMIZER_OUTPUT_DIR: RelativePath

    # Enhancements: backtest slippage model
    ENABLE_SLIPPAGE_MODEL: Flag
    SLIPPAGE_SIMULATION_TYPE: SlippageSimulationChoice
    SLIPPAGE_MEAN_PCT: Percent
    SLIPPAGE_STDDEV_PCT: Percent
    SIMULATED_LATENCY_MS: Milliseconds

    # Enhancements: Black-Scholes filter
    ENABLE_BSM_FILTER: Flag
    MAX_BSM_DEVIATION: Fraction
    RISK_FREE_RATE: Fraction
    RISK_FREE_RATE_SOURCE: RiskFreeRateSourceChoice

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        # The loader reports these one by one with lines; this keeps a BotSettings built
        # any other way from breaking them.
        breaches = bot_rule_breaches(dict(self))
        if breaches:
            raise ValueError("; ".join(f"{b.key}: expected {b.expected}" for b in breaches))
        return self


def bot_rule_breaches(values: Mapping[str, Any]) -> list[RuleBreach]:
    """Cross-field rules of `.env_bot` over the values that validated.

    A rule whose inputs are missing or malformed is skipped: those keys already have their
    own problem, and the rules that can still be checked are.
    """
    breaches: list[RuleBreach] = []

    weights, max_trades = values.get("WEIGHTS"), values.get("MAX_TRADES")
    if weights is not None and max_trades is not None and len(weights) != max_trades:
        breaches.append(
            RuleBreach(
                "WEIGHTS",
                f"exactly MAX_TRADES={max_trades} weights, one per trade; got {len(weights)}",
            )
        )

    broker = values.get("BROKER_NAME")
    if broker is not None and broker is not BrokerName.IBKR:
        for session in SESSIONS:
            key = f"SHORT_TYPE_{session}"
            if values.get(key) is ShortType.LONG_PUT:
                breaches.append(
                    RuleBreach(
                        key,
                        f"InverseETF, ShortSell or disabled with BROKER_NAME={broker}: "
                        "LongPut trades options, which only the IBKR broker supports",
                    )
                )

    low, high = values.get("MIN_PRICE"), values.get("MAX_PRICE")
    if low is not None and high is not None and not low < high:
        breaches.append(RuleBreach("MIN_PRICE", f"less than MAX_PRICE={high}"))

    for session in SESSIONS:
        low_key, high_key = f"MIN_MARKET_CAP_{session}", f"MAX_MARKET_CAP_{session}"
        low, high = values.get(low_key), values.get(high_key)
        if low is not None and high is not None and not low <= high:
            breaches.append(RuleBreach(low_key, f"at most {high_key}={high}"))

    return breaches
