"""The alert secret's shape: groups of apprise URLs, refused clearly, never quoted."""

from __future__ import annotations

import logging

import pytest

from tbot.alerts.channels import parse_channels
from tbot.alerts.redaction import scrub, secret_fragments
from tbot.config.problems import ConfigError

SOURCE = "storage/secrets/alert_channels.json.enc"
SECRET = "Zq9SecretToken77"


def problems_of(values: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_channels(values, SOURCE)
    return [str(problem) for problem in caught.value.problems]


def test_groups_keep_their_order_and_channels_are_named_by_group_position_and_scheme():
    channels = parse_channels({"channels": {
        "ops": [f"json://127.0.0.1:9/hook/{SECRET}", f"form://127.0.0.1:9/{SECRET}"],
        "pager": [f"json://alerts:{SECRET}@127.0.0.1:9/page"],
    }}, SOURCE)
    assert channels.names == ["ops", "pager"]
    assert [channel.label for channel in channels.all()] == [
        "ops#1 (json://)", "ops#2 (form://)", "pager#1 (json://)"]
    assert SECRET not in repr(channels.all())
    assert channels.group("missing") == ()


def test_a_malformed_url_names_its_group_and_position_but_never_the_url(
        caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    problems = problems_of({"channels": {"ops": [
        "json://127.0.0.1:9/ok",
        f"slack://{SECRET}/too-short",
        f"nosuchscheme://user:{SECRET}@host",
        f"no scheme at all {SECRET}",
    ]}})
    assert len(problems) == 3
    assert problems[0].startswith(f"{SOURCE}: channels.ops[2]='slack://…': expected an apprise "
                                  "URL apprise can use")
    assert "channels.ops[3]='nosuchscheme://…'" in problems[1]
    assert "channels.ops[4]='?://…'" in problems[2]
    for problem in problems:
        assert SECRET not in problem
        assert SECRET[:1] + "..." not in problem  # nor apprise's half-masked form of it
    # apprise logged why it refused each URL ("Unsupported URL: ..."): not into our logs
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert not [record for record in caplog.records if record.name.startswith("apprise")]


def test_a_secret_without_channels_or_with_the_wrong_shapes_lists_every_problem():
    assert problems_of({}) == [
        f"{SOURCE}: channels is missing; expected an object of channel groups, each a list "
        'of apprise URLs: {"channels": {"email": ["mailto://..."]}}']
    problems = problems_of({"channels": {"ops": f"json://h/{SECRET}", "bad name!": [],
                                         "empty": []},
                            "chanels": {}})
    assert any("unknown key 'chanels'" in problem for problem in problems)
    assert any("channels.ops='(a string)': expected a non-empty list" in problem
               for problem in problems)
    assert any("channels='bad name!'" in problem for problem in problems)
    assert any("channels.empty='(an empty list)'" in problem for problem in problems)
    assert all(SECRET not in problem for problem in problems)


def test_scrubbing_masks_every_part_of_a_url_raw_or_decoded():
    url = f"mailto://bot%40corp:{SECRET}@smtp.corp.example:2525?to=desk%40corp.example"
    text = (f"login bot@corp refused at smtp.corp.example:2525 for desk@corp.example "
            f"with {SECRET}; url {url}; apprise said {SECRET[0]}...{SECRET[-1]}")
    masked = scrub(text, secret_fragments(url))
    for piece in (SECRET, "bot@corp", "smtp.corp.example", "desk@corp.example", "2525",
                  f"{SECRET[0]}...{SECRET[-1]}"):
        assert piece not in masked
    assert "url •••;" in masked  # the whole URL is a fragment too
    assert scrub(f"posting to json://h/{SECRET} failed", ()) == "posting to json://••• failed"
