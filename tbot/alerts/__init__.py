"""Alerts that reach a person: engine events become messages sent through apprise.

The rooms, one responsibility each:

- `message`: the `Alert` record (time, bot, severity, strategy, symbol, PnL, root trigger,
  text), how it reads, and the key that says two alerts are the same.
- `redaction`: masking every part of a channel URL out of any text shown to a person.
- `apprise_logs`: apprise's own log records kept out of tbot's logs (they can hold URLs),
  read back per send, masked, as a failure's reason.
- `channels`: the `alert` secret's groups of apprise URLs, validated into channels.
- `routing`: which group (if any) an alert goes to: severity, and the NOTIFY_ON_* settings.
- `dispatcher`: bounded queues and worker threads; dedup window, retries with backoff,
  counters. Nothing here blocks or raises into the engine.
- `engine_alerts`: the engine's event bus subscriber that ties the rest together.
"""

from tbot.alerts import apprise_logs

# Before anything here touches apprise: its log lines can carry a channel's URL.
apprise_logs.quarantine()
