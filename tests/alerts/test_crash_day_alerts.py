"""The issue's whole scenario, as an operator meets it: a real `tbot engine` on a simulated
day whose market crashes mid-session. The drawdown guard warns, closes everything and
halts; the warning reaches a person by mail (a local SMTP server) and by webhook; the
engine's status says why, as the console shows it."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tbot.market.crash_day import write_crash_day
from tests.alerts.servers import SmtpServer, Webhook
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import EngineProcess, init_home, run_tbot
from tests.engine.in_process import set_bot_keys

SEED = 20261121  # the template's SIM_SEED
# After the open strategy has bought (CSCO at 14:59 on this day), so a position falls.
CRASH_AT = datetime.fromisoformat(f"{TRADING_DAY}T15:10:00+00:00")


def test_a_crash_day_warns_a_person_closes_everything_and_halts(
    tmp_path: Path, hook: Webhook, smtp: SmtpServer
) -> None:
    home = init_home(tmp_path / "home")
    # Only failures to a person: mail is paced one message at a time, fills would queue first.
    set_bot_keys(home, MAX_DRAWDOWN_PCT="0.1", NOTIFY_ON_FILL="false", NOTIFY_ON_EXIT="false")
    bars = write_crash_day(tmp_path / "crash.csv", SEED, CRASH_AT, Decimal("0.4"),
                           over_minutes=5)
    secret = tmp_path / "alert.json"
    secret.write_text(json.dumps({"channels": {"email": [smtp.url(), hook.url("json")]}}))
    assert run_tbot("secrets", "set", "alert", "--from-file", secret, "--home", home
                    ).returncode == 0
    engine = EngineProcess(home, "--sim", "--speed", "600", "--bars", str(bars), "--start",
                           f"{TRADING_DAY}T14:25:00Z")
    try:
        engine.wait_ready()
        status = engine.wait_until(
            lambda s: s["guards"]["drawdown"]["phase"] == "halted", timeout=120,
            what="the drawdown guard to halt")
        guard = status["guards"]["drawdown"]
        assert status["trading_state"]["state"] == "halted"
        assert status["trading_state"]["reason"].startswith("drawdown guard: drawdown ")
        assert guard["trigger"] == "max_drawdown" and guard["reason"]
        assert engine.call("positions.list")["positions"] == []
        # Mail goes out one message at a time (apprise paces SMTP): the fills' mails first.
        deadline = time.monotonic() + 60
        while not any("drawdown guard" in mail.as_string()
                      for mail in smtp.mailbox.messages):
            assert time.monotonic() < deadline, [m["Subject"] for m in smtp.mailbox.messages]
            time.sleep(0.5)
        bodies = [body for body in hook.bodies() if "drawdown guard" in body["message"]]
        assert bodies, hook.bodies()
        warning = bodies[0]["message"]
        assert "closing every position and halting in 10 s" in warning
        assert re.search(r"^trigger: max_drawdown$", warning, re.M), warning
        deadline = datetime.fromisoformat(guard["deadline"])
        assert deadline > CRASH_AT and deadline - CRASH_AT < timedelta(minutes=15)
    finally:
        engine.close()
