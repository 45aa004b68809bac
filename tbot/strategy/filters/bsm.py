"""Black-Scholes-Merton: the model price of a European option, and the filter that refuses
an option whose market premium strays too far from it.

The price takes a continuous dividend yield `q` (Merton 1973), so an index or a dividend
payer is priced on its forward ``S·e^(-qT)``. The normal distribution comes from
`math.erf`; floats are fine inside the arithmetic, the filter's thresholds stay `Decimal`.

Edge cases, chosen so that no input ever divides by zero or takes a log of zero:

- ``T ≤ 0``: the option is at (or past) expiry and worth its intrinsic value ``max(S-K, 0)``
  (call) or ``max(K-S, 0)`` (put).
- ``σ ≤ 0``, ``S = 0`` or ``K = 0``: nothing is random any more, and the price is the
  discounted intrinsic value of the forward, ``max(S·e^(-qT) - K·e^(-rT), 0)`` for a call.
- A negative or non-finite spot or strike (or a non-finite rate, time or volatility) is
  refused with ValueError.
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import StrEnum

from tbot.config.bot_settings import BotSettings
from tbot.strategy.filters.verdict import FilterVerdict

Number = float | int | Decimal


class OptionType(StrEnum):
    """A call or a put."""

    CALL = "call"
    PUT = "put"


def normal_cdf(x: float) -> float:
    """The standard normal distribution function Φ(x), from the error function."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _finite(name: str, value: Number) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return number


def bsm_price(
    option_type: OptionType | str,
    spot: Number,
    strike: Number,
    years: Number,
    rate: Number,
    volatility: Number,
    dividend_yield: Number = 0.0,
) -> float:
    """The Black-Scholes-Merton price of a European option.

    `spot` S and `strike` K in the same currency, `years` T to expiry, `rate` r and
    `dividend_yield` q as continuously compounded annual fractions, `volatility` σ as an
    annual fraction. ValueError for a negative or non-finite S or K, a non-finite T, r, σ
    or q, or an option type other than call/put.
    """
    kind = OptionType(str(option_type).lower())
    s, k = _finite("spot", spot), _finite("strike", strike)
    t, r = _finite("years", years), _finite("rate", rate)
    sigma, q = _finite("volatility", volatility), _finite("dividend_yield", dividend_yield)
    if s < 0 or k < 0:
        raise ValueError(f"spot and strike must not be negative (spot {spot}, strike {strike})")

    if t <= 0:
        return max(s - k, 0.0) if kind is OptionType.CALL else max(k - s, 0.0)
    forward_value = s * math.exp(-q * t)  # the spot less the dividends paid before expiry
    strike_value = k * math.exp(-r * t)
    if sigma <= 0 or s == 0 or k == 0:
        difference = forward_value - strike_value
        return max(difference, 0.0) if kind is OptionType.CALL else max(-difference, 0.0)

    spread = sigma * math.sqrt(t)
    d1 = (math.log(s / k) + (r - q + sigma * sigma / 2.0) * t) / spread
    d2 = d1 - spread
    if kind is OptionType.CALL:
        return forward_value * normal_cdf(d1) - strike_value * normal_cdf(d2)
    return strike_value * normal_cdf(-d2) - forward_value * normal_cdf(-d1)


class BsmFilter:
    """Refuses an option whose market premium is further than `max_deviation` (a fraction
    of the model value) from its Black-Scholes-Merton price.

    The model value needs a volatility; the caller passes the one it trusts (historical, or
    the broker's implied volatility of a neighbouring strike: the quote's own implied
    volatility would reproduce its premium and make the check pointless).
    """

    name = "bsm"

    def __init__(self, enabled: bool, max_deviation: Decimal, risk_free_rate: Decimal) -> None:
        self.enabled = enabled
        self.max_deviation = Decimal(max_deviation)
        self.risk_free_rate = Decimal(risk_free_rate)

    @classmethod
    def from_settings(cls, settings: BotSettings) -> BsmFilter:
        """The filter of a `BotSettings`: ENABLE_BSM_FILTER, MAX_BSM_DEVIATION and the static
        RISK_FREE_RATE (a per-jurisdiction rate is the caller's to pass instead)."""
        return cls(
            enabled=settings.ENABLE_BSM_FILTER,
            max_deviation=settings.MAX_BSM_DEVIATION,
            risk_free_rate=settings.RISK_FREE_RATE,
        )

    def self_check(self) -> list[str]:
        """A deviation limit of 0 or less refuses every option; a rate outside -1..1 is not
        an annual fraction (4.5 written for 4.5%?)."""
        problems: list[str] = []
        if self.enabled and self.max_deviation <= 0:
            problems.append(
                f"bsm: MAX_BSM_DEVIATION={self.max_deviation} refuses every option; "
                "use a fraction above 0 such as 0.15"
            )
        if not Decimal(-1) <= self.risk_free_rate <= Decimal(1):
            problems.append(
                f"bsm: risk-free rate {self.risk_free_rate} is not an annual fraction "
                "(0.045 for 4.5%)"
            )
        return problems

    def check(
        self,
        option_type: OptionType | str,
        spot: Number,
        strike: Number,
        years: Number,
        volatility: Number,
        market_premium: Number,
        dividend_yield: Number = 0,
    ) -> FilterVerdict:
        """Allow the option when |market − model| / model ≤ max_deviation; block otherwise,
        when the model value is 0, or when the inputs cannot be priced."""
        if not self.enabled:
            return FilterVerdict.allow(self.name, "BSM filter off")
        context: dict[str, object] = {
            "option_type": option_type, "spot": spot, "strike": strike, "years": years,
            "volatility": volatility, "rate": self.risk_free_rate,
            "dividend_yield": dividend_yield, "market_premium": market_premium,
        }
        try:
            model = bsm_price(
                option_type, spot, strike, years, self.risk_free_rate, volatility, dividend_yield
            )
            market = _finite("market premium", market_premium)
        except ValueError as error:
            return FilterVerdict.block(self.name, f"cannot price the option: {error}", **context)
        if market <= 0:
            return FilterVerdict.block(
                self.name, f"market premium {market_premium} is not a price", **context
            )
        if model <= 0:
            return FilterVerdict.block(
                self.name,
                f"model value is 0 ({option_type} strike {strike}, spot {spot}): worthless "
                f"by the model, so a premium of {market_premium} cannot be judged fair",
                model_value=0,
                **context,
            )
        deviation = abs(market - model) / model
        context |= {"model_value": f"{model:.4f}", "deviation": f"{deviation:.4f}"}
        words = "over" if market > model else "under"
        limit = float(self.max_deviation)
        if deviation > limit:
            return FilterVerdict.block(
                self.name,
                f"premium {market_premium} is {deviation:.1%} {words} the model value "
                f"{model:.2f} (limit {limit:.1%})",
                **context,
            )
        return FilterVerdict.allow(
            self.name,
            f"premium {market_premium} is {deviation:.1%} {words} the model value {model:.2f} "
            f"(≤ {limit:.1%})",
            **context,
        )
