"""What a command's failure means for the operator, in one line: refused (nothing was
written), no answer (it may have been applied), not sent, or sent with an answer the
console could not read. Shared by every view that sends changes."""

from __future__ import annotations

from tbot.control.client import EngineUnavailableError, RpcCallError, RpcTimeoutError
from tui.link.event_handling import describe_rpc_error
from tui.model.snapshot import SnapshotError


def error_text(error: Exception) -> str:
    """An error in the operator's words."""
    if isinstance(error, RpcCallError):
        return describe_rpc_error(error)
    return str(error) or type(error).__name__


def failure_text(error: Exception, *, then: str) -> str:
    """What a failed change means: was anything written? `then` says what to look at
    when the change was sent but its answer is unreadable (e.g. "check the queue")."""
    if isinstance(error, RpcCallError):
        return f"refused: {describe_rpc_error(error)}"
    if isinstance(error, RpcTimeoutError):
        return f"no answer: {error} (it may have been applied)"
    if isinstance(error, EngineUnavailableError):
        return "not sent: engine offline"
    if isinstance(error, SnapshotError):
        return f"sent, but the answer is malformed ({error}): {then}"
    return f"failed: {type(error).__name__}: {error}"
