"""Sending alerts without ever making the engine wait: queues, workers, retries, counts.

`AlertDispatcher.submit` is called on the engine's event loop and costs a dictionary
look-up and a queue put: it never blocks, never raises, never does I/O. Behind it:

- **Dedup window.** An alert whose `dedup_key` was sent less than `dedup_seconds` ago is
  counted as deduplicated and not sent again, unless it is now more severe. The window
  remembers at most `dedup_capacity` keys (the oldest are forgotten first), so a flood of
  distinct alerts cannot grow it without bound.
- **One bounded queue and one worker thread per channel.** A channel that times out
  holds up only its own queue: the pager is not late because the mail server is slow.
  When a queue is full the alert is dropped for that channel and counted; the first drop
  and then one line a minute are logged.
- **Retries with backoff** (tenacity): a failed send is tried `attempts` times in all,
  waiting `backoff_seconds`, then twice that, up to `backoff_max_seconds`. A channel that
  still fails is reported (a log line naming the channel, never its URL, and `on_failure`
  if given) once, then once a minute while it keeps failing, and again when it recovers.
- **Close** gives the queues `drain_seconds` to empty, then abandons what is left
  (counted as dropped): a stopping engine is never held by a dead channel.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from tbot.alerts.channels import AlertChannels, Channel, SendResult
from tbot.alerts.message import Alert

log = logging.getLogger("tbot.alerts")

# A channel still failing (or a queue still dropping) is said again at most this often.
REPORT_EVERY_SECONDS: Final = 60.0
_POLL_SECONDS: Final = 0.1


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """How hard the dispatcher tries, and how much it may hold."""

    queue_size: int = 256
    dedup_seconds: float = 300.0
    dedup_capacity: int = 4096
    attempts: int = 3
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    drain_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.dedup_capacity < 1 or self.attempts < 1:
            raise ValueError("queue_size, dedup_capacity and attempts are at least 1")


@dataclass(frozen=True, slots=True)
class ChannelFailure:
    """A channel that could not deliver an alert after every attempt."""

    label: str
    reason: str
    attempts: int
    consecutive: int  # failed alerts in a row on this channel, this one included


class Outcome(StrEnum):
    """What `submit` did with an alert."""

    QUEUED = "queued"  # on every channel of the group (some may have dropped it)
    DEDUPLICATED = "deduplicated"
    DROPPED = "dropped"  # every channel's queue was full
    NO_CHANNEL = "no_channel"  # the group has no channel
    CLOSED = "closed"  # the dispatcher is not running


@dataclass
class ChannelStats:
    """One channel's counts (deliveries: one alert to one channel)."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0
    consecutive_failures: int = 0
    last_error: str = ""

    def as_dict(self, queued: int) -> dict[str, object]:
        """JSON-ready counts, with the queue's current depth."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "retries": self.retries,
            "queued": queued,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
        }


class DedupWindow:
    """Remembers recently sent alert keys, at most `capacity` of them."""

    def __init__(self, seconds: float, capacity: int,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._capacity = capacity
        self._monotonic = monotonic
        # Oldest first: a sent key moves to the end, so expiry pops from the front.
        self._sent: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sent)

    def admit(self, key: Hashable, rank: int) -> bool:
        """True if an alert with `key` and severity `rank` should be sent now (and
        remember it); False for a repeat within the window at no higher severity."""
        now = self._monotonic()
        while self._sent:
            oldest, (sent_at, _) = next(iter(self._sent.items()))
            if now - sent_at < self._seconds:
                break
            del self._sent[oldest]
        previous = self._sent.get(key)
        if previous is not None and rank <= previous[1]:
            return False
        self._sent[key] = (now, rank)
        self._sent.move_to_end(key)
        if len(self._sent) > self._capacity:
            self._sent.popitem(last=False)
        return True


class _ChannelWorker:
    """A channel's queue and the thread that empties it."""

    def __init__(self, channel: Channel, dispatcher: AlertDispatcher) -> None:
        self.channel = channel
        # The most severe first, in arrival order within a severity: a crash's critical
        # alert must not wait behind forty warnings on a mail channel paced at one message
        # every few seconds.
        self.queue: queue.PriorityQueue[tuple[int, int, Alert]] = queue.PriorityQueue(
            dispatcher.settings.queue_size)
        self._arrivals = itertools.count()
        self.stats = ChannelStats()
        self._dispatcher = dispatcher
        self._last_drop_report = -REPORT_EVERY_SECONDS
        self._last_failure_report = -REPORT_EVERY_SECONDS
        self.thread = threading.Thread(
            target=self._run, name=f"tbot-alerts-{channel.group}-{channel.position}",
            daemon=True,  # a send stuck in a socket must never keep the process alive
        )

    def offer(self, alert: Alert) -> bool:
        """Queue `alert` without waiting; False (counted, reported) when the queue is full."""
        try:
            self.queue.put_nowait((-alert.severity.rank, next(self._arrivals), alert))
            return True
        except queue.Full:
            self._count_drop(1, "its queue is full")
            return False

    def _count_drop(self, count: int, why: str) -> None:
        dispatcher = self._dispatcher
        with dispatcher.lock:
            self.stats.dropped += count
            dropped = self.stats.dropped
            now = dispatcher.monotonic()
            due = now - self._last_drop_report >= REPORT_EVERY_SECONDS
            if due:
                self._last_drop_report = now
        if due:
            log.warning("alerts to channel %s dropped: %s (%d dropped so far)",
                        self.channel.label, why, dropped)

    def abandon_queued(self) -> int:
        """Empty the queue without sending; the count (dropped)."""
        abandoned = 0
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
            self.queue.task_done()
            abandoned += 1
        if abandoned:
            self._count_drop(abandoned, "the engine stopped before they were sent")
        return abandoned

    def _run(self) -> None:
        dispatcher = self._dispatcher
        while True:
            try:
                _, _, alert = self.queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if dispatcher.closing.is_set():
                    return
                continue
            try:
                if dispatcher.abort.is_set():
                    self._count_drop(1, "the engine stopped before it was sent")
                else:
                    self._deliver(alert)
            except Exception:  # the worker must outlive any surprise
                log.exception("alert channel %s: unexpected error", self.channel.label)
            finally:
                self.queue.task_done()

    def _deliver(self, alert: Alert) -> None:
        dispatcher = self._dispatcher
        result, attempts = dispatcher.send_with_retries(self.channel, alert, self._count_retry)
        now = dispatcher.monotonic()
        failure: ChannelFailure | None = None
        recovered_after = 0
        with dispatcher.lock:
            if result.ok:
                self.stats.sent += 1
                recovered_after = self.stats.consecutive_failures
                self.stats.consecutive_failures = 0
            else:
                self.stats.failed += 1
                self.stats.consecutive_failures += 1
                self.stats.last_error = result.reason
                if (self.stats.consecutive_failures == 1
                        or now - self._last_failure_report >= REPORT_EVERY_SECONDS):
                    self._last_failure_report = now
                    failure = ChannelFailure(self.channel.label, result.reason, attempts,
                                             self.stats.consecutive_failures)
        if failure is not None:
            dispatcher.report_failure(failure)
        if recovered_after:
            log.warning("alert channel %s delivers again (after %d failed alerts)",
                        self.channel.label, recovered_after)

    def _count_retry(self) -> None:
        with self._dispatcher.lock:
            self.stats.retries += 1


def log_failure(failure: ChannelFailure) -> None:
    """The default failure report: one log line naming the channel, never its URL."""
    log.warning("alert channel %s failed after %d attempt%s (%d failed alert%s in a row): %s",
                failure.label, failure.attempts, "" if failure.attempts == 1 else "s",
                failure.consecutive, "" if failure.consecutive == 1 else "s", failure.reason)


@dataclass
class _Totals:
    submitted: int = 0
    deduplicated: int = 0
    unrouted: int = 0


class AlertDispatcher:
    """Sends alerts to groups of channels from worker threads; see the module doc."""

    def __init__(
        self,
        channels: AlertChannels,
        settings: DispatchSettings | None = None,
        *,
        on_failure: Callable[[ChannelFailure], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or DispatchSettings()
        self.monotonic = monotonic
        self.lock = threading.Lock()
        self.closing = threading.Event()
        # Set when the drain time is up: backoff waits end, queued alerts are abandoned.
        self.abort = threading.Event()
        self._on_failure = on_failure
        self._dedup = DedupWindow(self.settings.dedup_seconds, self.settings.dedup_capacity,
                                  monotonic)
        self._totals = _Totals()
        self._workers: dict[str, list[_ChannelWorker]] = {
            name: [_ChannelWorker(channel, self) for channel in channels.group(name)]
            for name in channels.names
        }
        self._started = False

    def start(self) -> None:
        """Start one worker thread per channel."""
        if self._started:
            return
        self._started = True
        for worker in self._all_workers():
            worker.thread.start()

    def submit(self, alert: Alert, group: str) -> Outcome:
        """Queue `alert` for every channel of `group`. Never blocks, never raises."""
        with self.lock:
            self._totals.submitted += 1
            if not self._started or self.closing.is_set():
                return Outcome.CLOSED
            workers = self._workers.get(group)
            if not workers:
                self._totals.unrouted += 1
                return Outcome.NO_CHANNEL
            if not self._dedup.admit(alert.dedup_key(), alert.severity.rank):
                self._totals.deduplicated += 1
                return Outcome.DEDUPLICATED
        queued = [worker.offer(alert) for worker in workers]
        return Outcome.QUEUED if any(queued) else Outcome.DROPPED

    def send_with_retries(self, channel: Channel, alert: Alert,
                          on_retry: Callable[[], None] | None = None) -> tuple[SendResult, int]:
        """Send `alert` to `channel` on this thread, retrying with backoff until it is
        delivered, the attempts run out or the dispatcher aborts; the last result and the
        number of attempts made."""
        settings = self.settings

        def before_sleep(_: RetryCallState) -> None:
            if on_retry is not None:
                on_retry()

        retrying = Retrying(
            stop=stop_after_attempt(settings.attempts) | stop_when_event_set(self.abort),
            wait=wait_exponential(multiplier=settings.backoff_seconds,
                                  max=settings.backoff_max_seconds),
            retry=retry_if_result(lambda result: not result.ok),
            # Waiting on the abort event: a closing dispatcher cuts the backoff short.
            sleep=self.abort.wait,
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else
            SendResult(False, "not attempted"),
        )
        attempts = 0

        def attempt() -> SendResult:
            nonlocal attempts
            attempts += 1
            return channel.send(alert.title(), alert.body(), alert.notify_type)

        result: SendResult = retrying(attempt)
        return result, attempts

    def report_failure(self, failure: ChannelFailure) -> None:
        """Log a channel failure, then hand it to the `on_failure` callback, if any (which
        must not raise into us)."""
        log_failure(failure)
        if self._on_failure is None:
            return
        try:
            self._on_failure(failure)
        except Exception:
            log.exception("the alert failure report failed for %s", failure.label)

    def close(self, timeout: float | None = None) -> int:
        """Stop taking alerts, give the queues `timeout` seconds (default: the settings'
        drain time) to empty, then abandon the rest. Returns how many were abandoned."""
        with self.lock:
            if not self._started or self.closing.is_set():
                return 0
            self.closing.set()
        deadline = self.monotonic() + (self.settings.drain_seconds if timeout is None
                                       else timeout)
        for worker in self._all_workers():
            worker.thread.join(max(0.0, deadline - self.monotonic()))
        self.abort.set()
        abandoned = sum(worker.abandon_queued() for worker in self._all_workers())
        if abandoned:
            log.warning("alerts: %d alert deliveries abandoned at stop", abandoned)
        return abandoned

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queue is empty and no send is running (tests, benchmarks)."""
        deadline = self.monotonic() + timeout
        for worker in self._all_workers():
            remaining = max(0.0, deadline - self.monotonic())
            if not _join_queue(worker.queue, remaining):
                return False
        return True

    def counters(self) -> dict[str, object]:
        """JSON-ready counts for `engine.status`: totals, and per channel (by label)."""
        with self.lock:
            channels = {worker.channel.label: worker.stats.as_dict(worker.queue.qsize())
                        for worker in self._all_workers()}
            totals = self._totals
            return {
                "channels": len(channels),
                "submitted": totals.submitted,
                "deduplicated": totals.deduplicated,
                "no_channel": totals.unrouted,
                "sent": sum(worker.stats.sent for worker in self._all_workers()),
                "failed": sum(worker.stats.failed for worker in self._all_workers()),
                "dropped": sum(worker.stats.dropped for worker in self._all_workers()),
                "retries": sum(worker.stats.retries for worker in self._all_workers()),
                "queued": sum(worker.queue.qsize() for worker in self._all_workers()),
                "dedup_keys": len(self._dedup),
                "by_channel": channels,
            }

    def _all_workers(self) -> Sequence[_ChannelWorker]:
        return [worker for workers in self._workers.values() for worker in workers]


def _join_queue(pending: queue.Queue[tuple[int, int, Alert]], timeout: float) -> bool:
    """`Queue.join` with a timeout: True once every item put was processed."""
    deadline = time.monotonic() + timeout
    with pending.all_tasks_done:
        while pending.unfinished_tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pending.all_tasks_done.wait(remaining)
    return True
