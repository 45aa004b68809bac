"""The `alert` secret: groups of apprise URLs, validated into channels that can send.

The secret (``tbot secrets set alert --from-file F``) is one JSON object::

    {"channels": {"email": ["mailto://user:pass@smtp.example.com?to=ops@example.com"],
                  "slack": ["slack://T000/B000/XXXX"],
                  "pagerduty": ["pagerduty://integration@routing"]}}

A group is a name and a list of apprise URLs; an alert routed to a group goes to each of
its URLs. CRITICAL_ALERT_CHANNEL and ROUTINE_ALERT_CHANNEL name groups (`routing`); other
groups may exist for `tbot alerts test GROUP`.

A URL is never printed, logged or put in an error: a channel is named by its group, its
position in the group (from 1) and its scheme, ``slack#1 (slack://)``. apprise's own
reasons (why a URL was refused, why a send failed) are masked with every fragment of the
URL first (`tbot.alerts.redaction`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from apprise import Apprise, AppriseAsset, NotifyType
from apprise.plugins.base import NotifyBase

from tbot.alerts import apprise_logs
from tbot.alerts.redaction import scheme_of, scrub, secret_fragments
from tbot.config.paths import HomePaths
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.config.secret_store import SecretStore

SECRET_NAME: Final = "alert"
CHANNELS_KEY: Final = "channels"
GROUP_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NO_REASON: Final = "apprise gave no reason"


@dataclass(frozen=True, slots=True)
class SendResult:
    """One attempt to send: delivered or not, and why not (masked)."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True, eq=False)
class Channel:
    """One apprise URL of a group, ready to send. Its repr names it, never its URL."""

    group: str
    position: int
    scheme: str
    _plugin: NotifyBase = field(repr=False)
    _fragments: frozenset[str] = field(repr=False)

    @property
    def label(self) -> str:
        """How the channel is named everywhere: ``ops#2 (slack://)``."""
        return f"{self.group}#{self.position} ({self.scheme}://)"

    def __repr__(self) -> str:
        return f"Channel({self.label})"

    def mask(self, text: str) -> str:
        """`text` with every fragment of this channel's URL masked."""
        return scrub(text, self._fragments)

    def send(self, title: str, body: str, notify_type: NotifyType) -> SendResult:
        """One delivery attempt through apprise. Blocks for at most the URL's connect and
        read timeouts (apprise's ``cto``/``rto`` arguments); never raises."""
        with apprise_logs.collect() as lines:
            try:
                ok = bool(self._plugin.notify(body=body, title=title, notify_type=notify_type))
            except Exception as error:  # a plugin bug is this channel's failure, no more
                ok = False
                lines.append(f"{type(error).__name__}: {error}")
        if ok:
            return SendResult(True)
        return SendResult(False, self.mask("; ".join(lines) or NO_REASON))


@dataclass(frozen=True)
class AlertChannels:
    """Every group of the `alert` secret, in the secret's order."""

    groups: Mapping[str, tuple[Channel, ...]]

    @property
    def names(self) -> list[str]:
        """The group names."""
        return list(self.groups)

    def group(self, name: str) -> tuple[Channel, ...]:
        """The channels of group `name` (none for an unknown group)."""
        return self.groups.get(name, ())

    def all(self) -> list[Channel]:
        """Every channel of every group."""
        return [channel for channels in self.groups.values() for channel in channels]


def parse_channels(values: Mapping[str, Any], source: str) -> AlertChannels:
    """Validate the secret's `values` into channels. Every problem is collected into one
    ConfigError naming the group and position, with the scheme as the only part of a URL
    shown. `source` names the secret file in the problems."""
    problems: list[ConfigProblem] = []

    def problem(key: str | None, expected: str, value: str | None = None) -> None:
        problems.append(ConfigProblem(source, key, value, expected))

    for key in values:
        if key != CHANNELS_KEY:
            problem(None, f"unknown key {str(key)[:40]!r} in the alert secret; it holds "
                          f'only "{CHANNELS_KEY}": {{GROUP: [apprise URL, ...]}}')
    groups_value = values.get(CHANNELS_KEY)
    if not isinstance(groups_value, Mapping) or not groups_value:
        problem(CHANNELS_KEY, "an object of channel groups, each a list of apprise URLs: "
                              '{"channels": {"email": ["mailto://..."]}}')
        raise ConfigError(problems, headline="invalid alert channels")
    asset = AppriseAsset(secure_logging=True)
    groups: dict[str, tuple[Channel, ...]] = {}
    for name, urls in groups_value.items():
        if not isinstance(name, str) or not GROUP_NAME.fullmatch(name):
            # A group name is not a secret: it is shown, shortened.
            problem(CHANNELS_KEY, "group names of letters, digits, '_', '.' or '-' (at most "
                                  "64)", str(name)[:40])
            continue
        where = f"{CHANNELS_KEY}.{name}"
        if not isinstance(urls, list) or not urls:
            problem(where, "a non-empty list of apprise URLs", _kind(urls))
            continue
        channels: list[Channel] = []
        for position, url in enumerate(urls, start=1):
            channel, reason = _channel(name, position, url, asset)
            if channel is None:
                shown = f"{scheme_of(url)}://…" if isinstance(url, str) else _kind(url)
                problem(f"{where}[{position}]", reason, shown)
            else:
                channels.append(channel)
        groups[name] = tuple(channels)
    if problems:
        raise ConfigError(problems, headline="invalid alert channels")
    return AlertChannels(groups)


def _channel(group: str, position: int, url: object, asset: AppriseAsset
             ) -> tuple[Channel | None, str]:
    """The channel of one URL, or None and why not (masked)."""
    if not isinstance(url, str) or not url.strip():
        return None, "an apprise URL as a non-empty string"
    url = url.strip()
    scheme = scheme_of(url)
    fragments = secret_fragments(url)
    if scheme == "?":
        return None, "an apprise URL (SCHEME://...); this one has no scheme"
    with apprise_logs.collect() as lines:
        try:
            plugin = Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
        except Exception as error:  # apprise may still raise on odd input
            plugin = None
            lines.append(type(error).__name__)
    if not isinstance(plugin, NotifyBase):
        said = scrub("; ".join(lines), fragments) or "no reason given"
        return None, f"an apprise URL apprise can use; apprise refused this one ({said})"
    return Channel(group, position, scheme, plugin, fragments), ""


def _kind(value: object) -> str:
    """What a JSON value is, never what it says (it may be a secret)."""
    if isinstance(value, str):
        return "(an empty string)" if not value.strip() else "(a string)"
    if isinstance(value, list):
        return "(an empty list)" if not value else "(a list)"
    names = {dict: "an object", bool: "a boolean", type(None): "null"}
    return "(" + names.get(type(value), "a number") + ")"


def load_channels(paths: HomePaths) -> AlertChannels | None:
    """The channels of the home's `alert` secret; None when the secret does not exist
    (alerts then go to the engine's log and the console only). An unreadable or invalid
    secret raises (a CryptoError or a ConfigError)."""
    store = SecretStore(paths)
    if not store.exists(SECRET_NAME):
        return None
    path = store.path(SECRET_NAME)
    return parse_channels(store.load(SECRET_NAME), _shown_path(path, paths.home))


def _shown_path(path: Path, home: Path) -> str:
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:  # moved outside the home by ALERT_CHANNELS_PATH
        return str(path)
