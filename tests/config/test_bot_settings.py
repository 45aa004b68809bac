""".env_bot validation: typed values, each bad-input case, and the cross-field rules."""

from __future__ import annotations

from datetime import UTC, time, timedelta
from decimal import Decimal
from pathlib import PurePosixPath

import pytest
from pydantic import ValidationError

from tbot.config.bot_settings import BotSettings
from tbot.config.loader import parse_bot_text
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.config.setting_types import (
    BrokerName,
    ShortType,
    StrategyName,
    Weekday,
)
from tbot.version import current_tag
from tests.config.conftest import DropKey, EditText


@pytest.fixture
def parse(version_tag: str):
    """Parse `.env_bot` text with the repository's version tag expected."""

    def run(text: str) -> BotSettings:
        return parse_bot_text(text, ".env_bot", expected_version_tag=version_tag)

    return run


@pytest.fixture
def problems(parse):
    """The problems parsing `.env_bot` text reports (it must fail)."""

    def run(text: str) -> list[ConfigProblem]:
        with pytest.raises(ConfigError) as caught:
            parse(text)
        return caught.value.problems

    return run


def line_of(text: str, key: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(f"{key}="))


# -- the template and typed values --------------------------------------------------------


def test_template_bot_config_validates_to_typed_values(parse, template_bot_text: str) -> None:
    expected = {
        "BROKER_NAME": BrokerName.SIM,
        "WEIGHTS": (Decimal("0.4"), Decimal("0.2"), Decimal("0.2"), Decimal("0.2")),
        "TOTAL_ALLOCATION": Decimal("0.02"),
        "START_TIME_OPEN": time(14, 30, tzinfo=UTC),
        "SLEEP_TIME": timedelta(seconds=1),
        "TRADING_DAYS": (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI),
        "STRATEGY_SEQUENCE": (StrategyName.OPEN, StrategyName.MID, StrategyName.CLOSE),
        "STRATEGY_OVERRIDE": None,
        "OPTIMIZER_OUTPUT_DIR": PurePosixPath("backtest_results/strategy_tuning"),
        "MIN_POSITION_QTY": Decimal("0.01"),
        "MAX_SLIPPAGE_BPS": Decimal("50"),
    }
    bot = parse(template_bot_text)
    assert {key: getattr(bot, key) for key in expected} == expected


def test_money_and_fractions_are_decimal_never_float(parse, template_bot_text: str) -> None:
    bot = parse(template_bot_text)
    floats = [key for key, value in bot if isinstance(value, float)]
    assert floats == []
    assert isinstance(bot.MIN_EQUITY, Decimal)
    assert isinstance(bot.RISK_FREE_RATE, Decimal)


def test_bot_settings_are_frozen(parse, template_bot_text: str) -> None:
    bot = parse(template_bot_text)
    with pytest.raises(ValidationError, match="frozen"):
        bot.MAX_TRADES = 9  # type: ignore[misc]


def test_weekday_index_matches_date_weekday() -> None:
    assert [day.index for day in Weekday] == list(range(7))


# -- bad input, one case per test --------------------------------------------------------


def test_missing_key_is_reported_with_what_it_expects(
    problems, template_bot_text: str, drop_key: DropKey
) -> None:
    [problem] = problems(drop_key(template_bot_text, "DAILY_LOSS_LIMIT"))
    assert (problem.file, problem.key, problem.value, problem.line) == (
        ".env_bot",
        "DAILY_LOSS_LIMIT",
        None,
        None,
    )
    assert str(problem) == (
        ".env_bot: DAILY_LOSS_LIMIT is missing; expected a fraction between 0 and 1, "
        "e.g. 0.02 for 2%"
    )


@pytest.mark.parametrize("written", ["yes", "1", "on", "no", "0", "off", "ture", ""])
def test_bad_boolean_is_refused_with_true_or_false(
    problems, template_bot_text: str, set_value: EditText, written: str
) -> None:
    text = set_value(template_bot_text, "FRACTIONAL", written)
    [problem] = problems(text)
    assert (problem.key, problem.value, problem.line) == (
        "FRACTIONAL",
        written,
        line_of(text, "FRACTIONAL"),
    )
    assert problem.expected == "true or false"


def test_booleans_accept_any_letter_case(
    parse, template_bot_text: str, set_value: EditText
) -> None:
    text = set_value(template_bot_text, "FRACTIONAL", "FALSE")
    assert parse(set_value(text, "DEFENSE_MODE_ACTIVE", "True")).FRACTIONAL is False


@pytest.mark.parametrize("written", ["25:00", "14:60", "1430", "2:30 PM", "14:30:00", "14h30"])
def test_bad_time_is_refused_with_hh_mm(
    problems, template_bot_text: str, set_value: EditText, written: str
) -> None:
    [problem] = problems(set_value(template_bot_text, "START_TIME_MID", written))
    assert (problem.key, problem.value) == ("START_TIME_MID", written)
    assert problem.expected == "HH:MM in UTC, e.g. 14:30"


def test_bad_enum_is_refused_listing_the_choices(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    [problem] = problems(set_value(template_bot_text, "LOG_FORMAT", "xml"))
    assert (problem.key, problem.value) == ("LOG_FORMAT", "xml")
    assert problem.expected == "one of: json, csv"


@pytest.mark.parametrize("written", ["1.5", "-0.1", "2%", "0,02", "nan", "1e-2"])
def test_fraction_out_of_range_or_malformed_is_refused(
    problems, template_bot_text: str, set_value: EditText, written: str
) -> None:
    [problem] = problems(set_value(template_bot_text, "TOTAL_ALLOCATION", written))
    assert (problem.key, problem.value) == ("TOTAL_ALLOCATION", written)
    assert problem.expected.startswith("a fraction between 0 and 1")


@pytest.mark.parametrize(
    ("key", "written"),
    [
        ("MAX_TRADES", "0"),
        ("MAX_OPEN_POSITIONS", "-2"),
        ("API_RETRY_LIMIT", "-1"),
        ("API_TIMEOUT", "0"),
        ("API_TIMEOUT", "2.5"),
        ("RECONCILIATION_SYNC_INTERVAL", "0"),
        ("LEDGER_BACKUP_KEEP_PER_DAY", "0"),
    ],
)
def test_counts_and_intervals_refuse_zero_negative_and_decimals(
    problems, template_bot_text: str, set_value: EditText, key: str, written: str
) -> None:
    [problem] = problems(set_value(template_bot_text, key, written))
    assert (problem.key, problem.value) == (key, written)
    assert problem.expected.startswith("a whole number")


def test_retry_limit_may_be_zero(parse, template_bot_text: str, set_value: EditText) -> None:
    assert parse(set_value(template_bot_text, "API_RETRY_LIMIT", "0")).API_RETRY_LIMIT == 0


@pytest.mark.parametrize(
    ("key", "written"), [("MAX_DRAWDOWN_PCT", "101"), ("SLIPPAGE_MEAN_PCT", "-1")]
)
def test_percent_outside_0_to_100_is_refused(
    problems, template_bot_text: str, set_value: EditText, key: str, written: str
) -> None:
    [problem] = problems(set_value(template_bot_text, key, written))
    assert problem.key == key
    assert problem.expected.startswith("a percentage between 0 and 100")


def test_position_quantity_beyond_nine_decimal_places_is_refused(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    [problem] = problems(set_value(template_bot_text, "MIN_POSITION_QTY", "0.0000000001"))
    assert problem.key == "MIN_POSITION_QTY"
    assert "more than 9 decimal places" in problem.expected


def test_unknown_key_is_reported_with_a_suggestion(
    problems, template_bot_text: str
) -> None:
    text = template_bot_text + "MAX_TRADE=4\n"
    [problem] = problems(text)
    assert (problem.key, problem.value, problem.line) == (
        "MAX_TRADE",
        "4",
        len(text.splitlines()),
    )
    assert "a known setting" in problem.expected
    assert "did you mean MAX_TRADES?" in problem.expected


def test_seed_typo_of_finnhub_is_reported_as_renamed(
    problems, template_bot_text: str
) -> None:
    text = template_bot_text.replace(
        "ENABLE_FINNHUB_FUNDAMENTALS_FILTER=", "ENABLE_FUNNHUB_FUNDAMENTALS_FILTER="
    )
    found = {(p.key, p.expected) for p in problems(text)}
    assert (
        "ENABLE_FUNNHUB_FUNDAMENTALS_FILTER",
        "a known setting: renamed, write ENABLE_FINNHUB_FUNDAMENTALS_FILTER",
    ) in found
    assert ("ENABLE_FINNHUB_FUNDAMENTALS_FILTER", "true or false") in found


def test_broker_enable_toggles_point_to_broker_name(problems, template_bot_text: str) -> None:
    [problem] = problems(template_bot_text + "ALPACA_ENABLED=true\n")
    assert problem.key == "ALPACA_ENABLED"
    assert "BROKER_NAME is the single broker switch" in problem.expected


def test_lower_case_key_is_told_to_use_upper_case(problems, template_bot_text: str) -> None:
    [problem] = problems(template_bot_text + "max_trades=4\n")
    assert problem.expected == "a known setting: keys are upper-case, write MAX_TRADES"


def test_duplicate_key_is_a_problem(problems, template_bot_text: str) -> None:
    text = template_bot_text + "NOTIFY_ON_FILL=true\n"
    [problem] = problems(text)
    assert (problem.key, problem.line) == ("NOTIFY_ON_FILL", len(text.splitlines()))
    assert f"already set on line {line_of(text, 'NOTIFY_ON_FILL')}" in problem.expected


def test_unparsable_line_is_a_problem(problems, template_bot_text: str) -> None:
    text = template_bot_text + '=5\nMAX_TRADES_X="open\n'
    reported = problems(text)
    assert [p.line for p in reported] == [len(text.splitlines()) - 1, len(text.splitlines())]
    assert all(p.key is None and "cannot parse" in p.expected for p in reported)


def test_mismatched_version_tag_names_both_values(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    [problem] = problems(set_value(template_bot_text, "VERSION_TAG", "v1.0.0"))
    assert (problem.key, problem.value) == ("VERSION_TAG", "v1.0.0")
    message = str(problem)
    assert "v1.0.0" in message
    assert current_tag() in message


def test_version_tag_is_compared_with_the_tag_the_caller_expects(
    template_bot_text: str,
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_bot_text(template_bot_text, ".env_bot", expected_version_tag="v9.8.7")
    [problem] = caught.value.problems
    assert problem.expected.startswith("v9.8.7")
    assert f"the file says {current_tag()}" in problem.expected


def test_malformed_version_tag_is_refused(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    [problem] = problems(set_value(template_bot_text, "VERSION_TAG", "0.1"))
    assert problem.expected == "a version tag such as v0.1.0"


# -- WEIGHTS -------------------------------------------------------------------------------


def test_weights_count_must_equal_max_trades(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    text = set_value(template_bot_text, "WEIGHTS", "0.5,0.25,0.25")
    [problem] = problems(text)
    assert (problem.key, problem.value, problem.line) == (
        "WEIGHTS",
        "0.5,0.25,0.25",
        line_of(text, "WEIGHTS"),
    )
    assert problem.expected == "exactly MAX_TRADES=4 weights, one per trade; got 3"


def test_weights_not_summing_to_one_are_refused(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    [problem] = problems(set_value(template_bot_text, "WEIGHTS", "0.5,0.2,0.2,0.2"))
    assert problem.key == "WEIGHTS"
    assert problem.expected.endswith("(they sum to 1.1)")


def test_weights_sum_is_exact_decimal_arithmetic(
    parse, template_bot_text: str, set_value: EditText
) -> None:
    # In binary floating point 0.7 + 0.1 + 0.1 + 0.1 is 0.9999999999999999.
    bot = parse(set_value(template_bot_text, "WEIGHTS", "0.7,0.1,0.1,0.1"))
    assert sum(bot.WEIGHTS) == Decimal(1)


@pytest.mark.parametrize(
    ("written", "detail"),
    [
        ("0,0.5,0.25,0.25", "weight 1 (0) is not in (0, 1]"),
        ("0.5,,0.25,0.25", "an item is empty"),
        ("0.5,half,0.25,0.25", "weight 2 ('half') is not a number"),
    ],
)
def test_malformed_weights_say_which_weight(
    problems, template_bot_text: str, set_value: EditText, written: str, detail: str
) -> None:
    [problem] = problems(set_value(template_bot_text, "WEIGHTS", written))
    assert detail in problem.expected


def test_weights_count_follows_max_trades(
    parse, template_bot_text: str, set_value: EditText
) -> None:
    text = set_value(template_bot_text, "MAX_TRADES", "2")
    weights = parse(set_value(text, "WEIGHTS", "0.6,0.4")).WEIGHTS
    assert weights == (Decimal("0.6"), Decimal("0.4"))


# -- short types and brokers ----------------------------------------------------------------


def test_long_put_with_alpaca_is_refused_naming_the_short_type_key(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    text = set_value(template_bot_text, "BROKER_NAME", "ALPACA")
    text = set_value(text, "SHORT_TYPE_CLOSE", "LongPut")
    [problem] = problems(text)
    assert (problem.key, problem.value, problem.line) == (
        "SHORT_TYPE_CLOSE",
        "LongPut",
        line_of(text, "SHORT_TYPE_CLOSE"),
    )
    assert "BROKER_NAME=ALPACA" in problem.expected
    assert "only the IBKR broker supports" in problem.expected


def test_long_put_with_ibkr_is_accepted(
    parse, template_bot_text: str, set_value: EditText
) -> None:
    text = set_value(template_bot_text, "BROKER_NAME", "IBKR")
    short_type = parse(set_value(text, "SHORT_TYPE_OPEN", "LongPut")).SHORT_TYPE_OPEN
    assert short_type is ShortType.LONG_PUT


def test_short_type_accepts_any_case_and_stores_the_canonical_spelling(
    parse, template_bot_text: str, set_value: EditText
) -> None:
    text = set_value(template_bot_text, "SHORT_TYPE_OPEN", " inverseetf")
    text = set_value(text, "SHORT_TYPE_MID", "DISABLED")
    bot = parse(text)
    assert bot.SHORT_TYPE_OPEN.value == "InverseETF"
    assert bot.SHORT_TYPE_MID.value == "disabled"


def test_unknown_broker_is_refused(problems, template_bot_text: str, set_value: EditText) -> None:
    [problem] = problems(set_value(template_bot_text, "BROKER_NAME", "TRADIER"))
    assert problem.expected == "one of: ALPACA, IBKR, SIM"


# -- strategy routing, days and durations ---------------------------------------------------


def test_empty_strategy_override_is_refused_asking_for_none(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    [problem] = problems(set_value(template_bot_text, "STRATEGY_OVERRIDE", ""))
    assert (problem.key, problem.value) == ("STRATEGY_OVERRIDE", "")
    assert "write none" in problem.expected


def test_strategy_override_names_one_strategy(
    parse, template_bot_text: str, set_value: EditText
) -> None:
    bot = parse(set_value(template_bot_text, "STRATEGY_OVERRIDE", "Mid"))
    assert bot.STRATEGY_OVERRIDE is StrategyName.MID


@pytest.mark.parametrize(
    ("written", "detail"),
    [
        ("open,mid,open", "'open' appears twice"),
        ("open,late", "'late' is not one of them"),
        ("open,", "an item is empty"),
    ],
)
def test_bad_strategy_sequence_is_refused(
    problems, template_bot_text: str, set_value: EditText, written: str, detail: str
) -> None:
    [problem] = problems(set_value(template_bot_text, "STRATEGY_SEQUENCE", written))
    assert problem.key == "STRATEGY_SEQUENCE"
    assert detail in problem.expected


def test_trading_days_are_case_insensitive(
    parse, template_bot_text: str, set_value: EditText
) -> None:
    bot = parse(set_value(template_bot_text, "TRADING_DAYS", "MON, Wed,fri"))
    assert bot.TRADING_DAYS == (Weekday.MON, Weekday.WED, Weekday.FRI)


@pytest.mark.parametrize("written", ["mon,mon", "monday", "", "mon,,tue"])
def test_bad_trading_days_are_refused(
    problems, template_bot_text: str, set_value: EditText, written: str
) -> None:
    [problem] = problems(set_value(template_bot_text, "TRADING_DAYS", written))
    assert problem.key == "TRADING_DAYS"
    assert problem.expected.startswith("a comma list of day names")


@pytest.mark.parametrize(
    ("written", "duration"),
    [
        ("1s", timedelta(seconds=1)),
        ("500ms", timedelta(milliseconds=500)),
        ("2m", timedelta(minutes=2)),
        ("1.5s", timedelta(milliseconds=1500)),
        ("1h", timedelta(hours=1)),
    ],
)
def test_sleep_time_is_a_duration(
    parse, template_bot_text: str, set_value: EditText, written: str, duration: timedelta
) -> None:
    sleep_time = parse(set_value(template_bot_text, "SLEEP_TIME", written)).SLEEP_TIME
    assert sleep_time == duration


@pytest.mark.parametrize("written", ["0s", "1", "1 sec", "-1s", "fast"])
def test_bad_sleep_time_is_refused(
    problems, template_bot_text: str, set_value: EditText, written: str
) -> None:
    [problem] = problems(set_value(template_bot_text, "SLEEP_TIME", written))
    assert problem.key == "SLEEP_TIME"
    assert problem.expected.startswith("a duration above zero")


# -- ranges and paths ---------------------------------------------------------------------


def test_min_price_must_be_below_max_price(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    [problem] = problems(set_value(template_bot_text, "MIN_PRICE", "100"))
    assert (problem.key, problem.expected) == ("MIN_PRICE", "less than MAX_PRICE=100")


def test_min_market_cap_must_not_exceed_max(
    problems, template_bot_text: str, set_value: EditText
) -> None:
    [problem] = problems(set_value(template_bot_text, "MIN_MARKET_CAP_MID", "20000000000"))
    assert problem.key == "MIN_MARKET_CAP_MID"
    assert problem.expected == "at most MAX_MARKET_CAP_MID=10000000000"


def test_equal_market_caps_are_accepted(
    parse, template_bot_text: str, set_value: EditText
) -> None:
    text = set_value(template_bot_text, "MIN_MARKET_CAP_OPEN", "10000000000")
    assert parse(text).MIN_MARKET_CAP_OPEN == parse(text).MAX_MARKET_CAP_OPEN


@pytest.mark.parametrize("written", ["/tmp/tuning", "../tuning", "results/../../x"])
def test_optimizer_output_dir_must_stay_inside_the_home(
    problems, template_bot_text: str, set_value: EditText, written: str
) -> None:
    [problem] = problems(set_value(template_bot_text, "OPTIMIZER_OUTPUT_DIR", written))
    assert problem.key == "OPTIMIZER_OUTPUT_DIR"


# -- every problem at once ------------------------------------------------------------------


def test_cross_field_rules_run_even_when_other_values_are_malformed(
    problems, template_bot_text: str, set_value: EditText, drop_key: DropKey
) -> None:
    text = set_value(template_bot_text, "LOG_FORMAT", "xml")
    text = set_value(text, "BROKER_NAME", "alpaca")
    text = set_value(text, "SHORT_TYPE_OPEN", "LongPut")
    text = set_value(text, "WEIGHTS", "0.5,0.5")
    text = drop_key(text, "DEBUG_LOG_LEVEL")
    reported = problems(text)
    assert [p.key for p in reported] == [
        "LOG_FORMAT",
        "WEIGHTS",
        "SHORT_TYPE_OPEN",
        "DEBUG_LOG_LEVEL",
    ]


def test_settings_built_in_python_still_obey_the_cross_field_rules(
    parse, template_bot_text: str
) -> None:
    values = dict(parse(template_bot_text))
    values["MAX_TRADES"] = 3
    with pytest.raises(ValidationError, match="exactly MAX_TRADES=3 weights"):
        BotSettings.model_validate(values)


def test_settings_built_in_python_refuse_floats(parse, template_bot_text: str) -> None:
    values = dict(parse(template_bot_text))
    values["TOTAL_ALLOCATION"] = 0.02
    with pytest.raises(ValidationError, match="TOTAL_ALLOCATION"):
        BotSettings.model_validate(values)
