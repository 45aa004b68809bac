"""docs/protocol.md documents every error code, topic and method the protocol has."""

from __future__ import annotations

from pathlib import Path

import pytest

from tbot.control.topics import TOPICS
from tbot.control.wire import ERROR_NAMES, MAX_FRAME_BYTES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()

BUILT_IN_METHODS = ["rpc.discover", "events.subscribe", "events.unsubscribe"]
# The engine's methods, as the control-plane specification (issue 3) names them.
ENGINE_METHODS = [
    "engine.status",
    "positions.list",
    "orders.list",
    "pnl.summary",
    "pnl.history",
    "account.summary",
    "ledger.verify",
    "trading.pause",
    "trading.resume",
    "strategy.enable",
    "strategy.disable",
    "risk.kill",
    "config.reload",
    "risk.reset",
    "engine.shutdown",
    "recon.sync",
    "recon.status",
    "recon.runs",
    "recon.breaks",
    "recon.show",
    "recon.resolve",
    "recon.positions",
    "mapping.queue",
    "mapping.show",
    "mapping.assign",
    "mapping.undo",
    "mapping.rules",
    "mapping.set_rule",
    "mapping.preview_rule",
    "mapping.versions",
    "mapping.diff",
    "mapping.replay",
    "mapping.activate",
    "mapping.rollback",
    "mapping.export",
    "mapping.import",
]


@pytest.mark.parametrize(("code", "name"), sorted(ERROR_NAMES.items()))
def test_every_error_code_has_a_row(code: int, name: str) -> None:
    assert f"| {code} | `{name}` |" in DOC


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_topic_has_a_row(topic: str) -> None:
    assert f"| `{topic}` |" in DOC


@pytest.mark.parametrize("method", BUILT_IN_METHODS + ENGINE_METHODS)
def test_every_method_has_a_section(method: str) -> None:
    assert f"`{method}`" in DOC.split("## Methods", 1)[1]
    assert f"#### `{method}`" in DOC or f", `{method}`" in DOC


def test_the_frame_limit_is_the_documented_one() -> None:
    assert MAX_FRAME_BYTES == 1_048_576
    assert "1,048,576 bytes" in DOC
