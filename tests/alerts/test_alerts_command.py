"""`tbot alerts test [GROUP]` and `tbot config validate` on a real home: each channel's
result, exit codes 0 / 1 / 2, and never a URL's secret in the output or the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tbot.cli.main import main
from tests.alerts.servers import Webhook, closed_port
from tests.cli.cli_support import CliResult, Runner

TOKEN = "Wq4TopSecretHookToken"
PASSWORD = "Pw9NeverShowThis"


@pytest.fixture
def run_tbot(capsys: pytest.CaptureFixture[str]) -> Runner:
    """`tbot ARGS...` in-process, output captured."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def home(tmp_path: Path, run_tbot: Runner) -> Path:
    """A home made by `tbot init`."""
    target = tmp_path / "home"
    assert run_tbot("init", "--home", target).code == 0
    return target


def set_alert_secret(run_tbot: Runner, home: Path, groups: dict[str, list[str]]) -> None:
    source = home / "alert-channels.json"
    source.write_text(json.dumps({"channels": groups}))
    result = run_tbot("secrets", "set", "alert", "--from-file", source, "--home", home)
    assert result.code == 0, result.err
    source.unlink()


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text and PASSWORD not in text
        assert f"{PASSWORD[0]}...{PASSWORD[-1]}" not in text


def test_every_channel_delivered_exits_0_and_the_message_arrives(
        run_tbot: Runner, home: Path, hook: Webhook):
    set_alert_secret(run_tbot, home, {"ops": [hook.url("json", f"/hook/{TOKEN}")],
                                      "email": [hook.url("form", "/mail")]})
    result = run_tbot("alerts", "test", "ops", "--home", home, "--json")
    assert result.code == 0, result.out
    report = result.json()
    assert report["ok"] is True and report["bot"] == "TBOT_US_SIM_BOT01"
    assert [(c["channel"], c["ok"]) for c in report["channels"]] == [("ops#1 (json://)", True)]
    [(path, body)] = hook.wait_for(1)
    assert path == f"/hook/{TOKEN}"
    assert "channel ops#1 (json://) of TBOT_US_SIM_BOT01 reaches you" in body["message"]
    assert_no_secret(result.out, result.err)


def test_a_failed_channel_exits_1_names_it_and_shows_no_secret(
        run_tbot: Runner, home: Path, hook: Webhook, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    refused = f"json://bot:{PASSWORD}@127.0.0.1:{closed_port()}/{TOKEN}?cto=1&rto=1"
    set_alert_secret(run_tbot, home, {"email": [hook.url()], "pagerduty": [refused]})
    result = run_tbot("alerts", "test", "--home", home)
    assert result.code == 1
    assert "delivered email#1 (json://)" in result.out
    assert "failed pagerduty#1 (json://)" in result.out
    as_json = run_tbot("alerts", "test", "--home", home, "--json")
    assert as_json.code == 1
    failed = [c for c in as_json.json()["channels"] if not c["ok"]]
    assert [c["channel"] for c in failed] == ["pagerduty#1 (json://)"]
    assert "Connection error" in failed[0]["reason"]
    assert_no_secret(result.out, result.err, as_json.out, as_json.err,
                     *(record.getMessage() for record in caplog.records))


def test_bad_configuration_exits_2_naming_the_group_and_position_not_the_url(
        run_tbot: Runner, home: Path, hook: Webhook):
    missing = run_tbot("alerts", "test", "--home", home)
    assert missing.code == 2 and "no alert secret" in missing.err
    set_alert_secret(run_tbot, home, {"email": [hook.url(), f"slack://{TOKEN}"]})
    malformed = run_tbot("alerts", "test", "--home", home, "--json")
    assert malformed.code == 2
    [problem] = malformed.json()["problems"]
    assert (problem["key"], problem["value"]) == ("channels.email[2]", "slack://…")
    validate = run_tbot("config", "validate", "--home", home)
    assert validate.code == 2 and "channels.email[2]" in validate.err
    assert_no_secret(malformed.out, validate.out, validate.err)


def test_an_unknown_group_exits_2_listing_the_groups(run_tbot: Runner, home: Path,
                                                    hook: Webhook):
    set_alert_secret(run_tbot, home, {"email": [hook.url()]})
    result = run_tbot("alerts", "test", "pager", "--home", home)
    assert result.code == 2
    assert "GROUP='pager': expected a channel group of the alert secret: email" in result.err


def test_config_validate_refuses_a_routed_group_the_secret_lacks(
        run_tbot: Runner, home: Path, hook: Webhook):
    set_alert_secret(run_tbot, home, {"ops": [hook.url("json", f"/{TOKEN}")]})
    result = run_tbot("config", "validate", "--home", home)
    assert result.code == 2
    assert "CRITICAL_ALERT_CHANNEL='email': expected a channel group of the alert secret, " \
           "which has ops" in result.err
    set_alert_secret(run_tbot, home, {"email": [hook.url("json", f"/{TOKEN}")]})
    valid = run_tbot("config", "validate", "--home", home, "--json")
    assert valid.code == 0, valid.out
    report = valid.json()
    assert report["alert_groups"] == {"email": ["json"]}
    assert not {item["key"] for item in report["not_built"]} & {
        "NOTIFY_ON_FILL", "NOTIFY_ON_EXIT", "NOTIFY_ON_FAILURE"}
    assert_no_secret(result.err, valid.out)
