"""A real `tbot engine` on the simulated broker with the alert secret pointing at a local
webhook: fills and exits reach it with bot, strategy, symbol and PnL; the log never shows
the URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.alerts.servers import Webhook
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import IDENTITY, EngineProcess, init_home, run_tbot

TOKEN = "Ek3EngineHookSecret"


def test_a_simulated_day_sends_its_fills_and_exits_to_the_webhook(tmp_path: Path,
                                                                  hook: Webhook):
    home = init_home(tmp_path / "home")
    source = tmp_path / "alert.json"
    source.write_text(json.dumps({"channels": {"email": [hook.url("json", f"/{TOKEN}")]}}))
    assert run_tbot("secrets", "set", "alert", "--from-file", source, "--home", home
                    ).returncode == 0
    engine = EngineProcess(home, "--sim", "--speed", "3000", "--start",
                           f"{TRADING_DAY}T14:25:00Z", "--until-close")
    try:
        assert engine.wait(180) == 0, engine.output()
    finally:
        engine.close()
    messages = [body["message"] for body in hook.bodies()]
    fields = [dict(re.findall(r"^(\w+): (.*)$", message, re.M)) for message in messages]
    entries = [f for f in fields if f.get("kind") == "fill"]
    exits = [f for f in fields if f.get("kind") == "exit"]
    assert entries and exits, messages
    for alert in entries + exits:
        assert alert["bot"] == IDENTITY
        assert alert["strategy"] in ("open", "mid", "close")
        assert alert["symbol"] != "-"
        assert alert["time"].startswith(TRADING_DAY)
    assert all(re.fullmatch(r"-?\d+\.\d+ \(this exit, realized, before fees\)", alert["pnl"])
               for alert in exits)
    output = engine.output()
    assert "alerts: channel groups email (1)" in output
    assert re.search(r"alerts: \d+ sent, 0 failed, 0 dropped", output), output
    assert TOKEN not in output
