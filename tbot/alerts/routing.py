"""Which group of channels an alert goes to, if any.

Severity routes: CRITICAL_ALERT_CHANNEL takes errors and criticals (a halt, a broker
failure, a guard closing positions), ROUTINE_ALERT_CHANNEL takes warnings, fills and
exits. The NOTIFY_ON_* settings choose what is sent at all:

- NOTIFY_ON_FILL: entry fills (a buy, a short sale).
- NOTIFY_ON_EXIT: exit fills (a sell, a cover), with the exit's realized PnL.
- NOTIFY_ON_FAILURE: the engine's alerts at warning, error and critical, and trading
  going HALTED.

The engine's info-level alerts ("entry refused", "daily summary written") are not sent to
a person: they stay on the console and in the log. A test message goes to the group
asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from tbot.alerts.channels import AlertChannels, load_channels
from tbot.alerts.message import Alert, AlertKind, Severity
from tbot.config.bot_settings import BotSettings
from tbot.config.paths import HomePaths
from tbot.config.problems import ConfigError, ConfigProblem


@dataclass(frozen=True, slots=True)
class AlertRouting:
    """The routing settings, read once from `.env_bot`."""

    notify_on_fill: bool
    notify_on_exit: bool
    notify_on_failure: bool
    critical_group: str
    routine_group: str

    @classmethod
    def from_settings(cls, bot: BotSettings) -> AlertRouting:
        """The routing of a bot's NOTIFY_ON_* and *_ALERT_CHANNEL settings."""
        return cls(
            notify_on_fill=bool(bot.NOTIFY_ON_FILL),
            notify_on_exit=bool(bot.NOTIFY_ON_EXIT),
            notify_on_failure=bool(bot.NOTIFY_ON_FAILURE),
            critical_group=str(bot.CRITICAL_ALERT_CHANNEL.value),
            routine_group=str(bot.ROUTINE_ALERT_CHANNEL.value),
        )

    def group_for(self, alert: Alert) -> str | None:
        """The group `alert` is sent to, or None when it is not sent to a person."""
        if alert.kind is AlertKind.FILL:
            return self.routine_group if self.notify_on_fill else None
        if alert.kind is AlertKind.EXIT:
            return self.routine_group if self.notify_on_exit else None
        if alert.kind is AlertKind.FAILURE and self.notify_on_failure:
            if alert.severity.rank >= Severity.ERROR.rank:
                return self.critical_group
            return self.routine_group
        return None

    @property
    def sends_anything(self) -> bool:
        """Whether any NOTIFY_ON_* is on."""
        return self.notify_on_fill or self.notify_on_exit or self.notify_on_failure

    def required_groups(self) -> dict[str, str]:
        """The groups some enabled NOTIFY_ON_* sends to, each with the setting that names
        it (the secret must have them)."""
        required: dict[str, str] = {}
        if self.notify_on_failure:
            required[self.critical_group] = "CRITICAL_ALERT_CHANNEL"
        if self.notify_on_fill or self.notify_on_exit or self.notify_on_failure:
            required.setdefault(self.routine_group, "ROUTINE_ALERT_CHANNEL")
        return required


def load_routed_channels(paths: HomePaths, routing: AlertRouting) -> AlertChannels | None:
    """The `alert` secret's channels, checked against the routing: every group an enabled
    NOTIFY_ON_* sends to must be in the secret. None when there is no secret (alerts stay
    in the log and on the console). Raises a ConfigError naming the setting and the
    group (never a URL), or the secret store's error when the file cannot be read."""
    channels = load_channels(paths)
    if channels is None:
        return None
    problems = [
        ConfigProblem(".env_bot", setting, group,
                      f"a channel group of the alert secret, which has "
                      f"{', '.join(channels.names)} (add a {group!r} group of apprise URLs "
                      f"with `tbot secrets set alert --from-file F`, or name another group)")
        for group, setting in routing.required_groups().items()
        if not channels.group(group)
    ]
    if problems:
        raise ConfigError(problems, headline="alert routing names a missing channel group")
    return channels
