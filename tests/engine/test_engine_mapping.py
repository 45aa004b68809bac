"""The mapping queue in a real engine and from the command line: a day with the cash
faults leaves the unknown fee queued; an admin assigns it through the socket (a viewer may
only read), subscribers hear of it; `tbot mapping` exports and a fresh home imports."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from tbot.control.client import ControlClient, RpcCallError
from tbot.control.wire import FORBIDDEN, REFUSED
from tests.cli.cli_support import replace_setting
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import init_home, run_tbot, set_env_key, verify_clean

CASH_FAULTS = "dividend,deposit,unknown_fee"


def mapping(home: Path, *args: str | Path) -> tuple[int, Any]:
    result = run_tbot("mapping", *args, "--home", home, "--json")
    try:
        return result.returncode, json.loads(result.stdout) if result.stdout else None
    except json.JSONDecodeError:
        raise AssertionError(result.stdout + result.stderr) from None


def test_a_cash_fault_day_then_the_queue_from_the_command_line(home, start_engine, tmp_path):
    replace_setting(home, "SIM_FAULTS", CASH_FAULTS)
    engine = start_engine(home, "--sim", "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close")
    assert engine.wait(240) == 0, engine.output()

    code, queue = mapping(home, "queue")
    assert code == 1, queue  # items waiting
    (item,) = queue["items"]
    assert item["activity_type"] == "MISCFEE" and item["suggestions"]
    code, _ = mapping(home, "assign", str(item["id"]), "9310")
    assert code == 2
    code, done = mapping(home, "assign", str(item["id"]), "5070", "--save-rule",
                         "--reason", "OPRA fee")
    assert code == 0 and done["new_version"] == 2, done
    code, queue = mapping(home, "queue")
    assert code == 0 and queue["total"] == 0
    code, versions = mapping(home, "versions")
    assert versions["active"] == 2
    code, diff = mapping(home, "diff", "1", "2")
    assert [c["change"] for c in diff["changes"]] == ["added"]
    verify_clean(home)

    exported = tmp_path / "rules.json"
    assert mapping(home, "export", exported)[0] == 0
    fresh = init_home(tmp_path / "fresh")
    bad = tmp_path / "bad.json"
    document = json.loads(exported.read_text())
    bad.write_text(json.dumps({**document, "content_hash": "0" * 64}))
    code, _ = mapping(fresh, "import", bad)
    assert code == 2
    code, imported = mapping(fresh, "import", exported)
    assert code == 0 and imported["active"] is False
    assert mapping(fresh, "replay", str(imported["version"]))[0] in (0, 1)
    code, _ = mapping(fresh, "activate", str(imported["version"]), "--reason", "seed")
    assert code == 0
    _, theirs = mapping(fresh, "rules")
    assert theirs["version"]["content_hash"] == document["content_hash"]


def test_through_the_socket_an_admin_assigns_and_subscribers_hear_it(home, start_engine):
    replace_setting(home, "SIM_FAULTS", "unknown_fee")
    engine = start_engine(home, "--sim", "--speed", "120",
                          "--start", f"{TRADING_DAY}T14:55:00Z").wait_ready()
    engine.wait_until(lambda status: status["clock"]["now"] >= f"{TRADING_DAY}T15:02",
                      what="the cash fault's time")

    async def sync_then_assign() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with await ControlClient.connect(engine.socket) as client:
            await client.subscribe(["mapping"])
            for _ in range(100):
                queue = await client.call("mapping.queue", {})
                if queue["items"]:
                    break
                with contextlib.suppress(RpcCallError):  # rate-limited: try again shortly
                    await client.call("recon.sync", {})
                await asyncio.sleep(0.5)
            (item,) = queue["items"]
            done = await client.call("mapping.assign", {"id": item["id"], "account": "5070",
                                                        "reason": "socket test"})
            events = []
            async with asyncio.timeout(20):
                async for event in client.notifications():
                    if event.get("topic") == "mapping":
                        events.append(event)
                        if event["data"].get("change") == "assign":
                            break
            return done, events

    done, events = asyncio.run(sync_then_assign())
    assert done["action"] == "post"
    assert events[-1]["data"]["account"] == "5070"
    again = engine.error_of("mapping.assign", {"id": done["item"], "account": "5045"})
    assert again.code == REFUSED and "already mapped" in again.message
    engine.terminate()


def test_a_viewer_reads_the_queue_but_may_not_change_mappings(home, start_engine):
    set_env_key(home, "CONTROL_ROLES", "@owner=viewer")
    engine = start_engine(home, "--sim", "--speed", "60",
                          "--start", f"{TRADING_DAY}T14:40:00Z").wait_ready()

    assert engine.call("mapping.queue")["items"] == []
    assert engine.call("mapping.versions")["active"] == 1
    for method, params in (("mapping.assign", {"id": 1, "account": "5070"}),
                           ("mapping.rollback", {"version": 1, "reason": "viewer"}),
                           ("mapping.import", {"document": "{}"})):
        error = engine.error_of(method, params)
        assert error.code == FORBIDDEN, (method, error.message)
    engine.terminate()
