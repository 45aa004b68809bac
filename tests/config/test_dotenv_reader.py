"""Reading dotenv text: entries with line numbers, comments ignored, bad lines reported."""

from __future__ import annotations

from tbot.config.dotenv_reader import DotenvEntry, read_dotenv_text


def test_entries_keep_the_line_of_their_key() -> None:
    text = "# header\n\n\nFIRST=1\n\n# comment\nSECOND=2\n"
    document = read_dotenv_text(text, ".env_bot")
    assert document.entries == {
        "FIRST": DotenvEntry("FIRST", "1", 4),
        "SECOND": DotenvEntry("SECOND", "2", 7),
    }
    assert document.problems == ()


def test_comments_and_blank_lines_are_not_entries() -> None:
    document = read_dotenv_text("# only = a comment\n\n   \n# KEY=value\n", ".env")
    assert document.entries == {}
    assert document.problems == ()


def test_trailing_inline_comment_is_not_part_of_the_value() -> None:
    document = read_dotenv_text('LOCAL="true"   # dev box\nMAX=5   # five\n', ".env")
    assert document.entries["LOCAL"].value == "true"
    assert document.entries["MAX"].value == "5"


def test_values_are_stripped() -> None:
    document = read_dotenv_text("SHORT_TYPE_OPEN= InverseETF   \nA=  x\t\n", ".env_bot")
    assert document.entries["SHORT_TYPE_OPEN"].value == "InverseETF"
    assert document.entries["A"].value == "x"


def test_quoted_values_are_unquoted() -> None:
    document = read_dotenv_text("BROKER_NAME=\"ALPACA\"\nTAG='v0.1.0'\n", ".env_bot")
    assert document.entries["BROKER_NAME"].value == "ALPACA"
    assert document.entries["TAG"].value == "v0.1.0"


def test_variables_are_not_interpolated() -> None:
    document = read_dotenv_text("HOME_DIR=/srv\nPATH_X=${HOME_DIR}/x\n", ".env")
    assert document.entries["PATH_X"].value == "${HOME_DIR}/x"


def test_empty_value_is_an_empty_string() -> None:
    document = read_dotenv_text("STRATEGY_OVERRIDE=\n", ".env_bot")
    assert document.entries["STRATEGY_OVERRIDE"].value == ""


def test_duplicate_key_is_a_problem_naming_both_lines() -> None:
    text = "NOTIFY_ON_FILL=true\nOTHER=1\nNOTIFY_ON_FILL=false\n"
    document = read_dotenv_text(text, ".env_bot")
    assert document.entries["NOTIFY_ON_FILL"] == DotenvEntry("NOTIFY_ON_FILL", "true", 1)
    [problem] = document.problems
    assert (problem.file, problem.key, problem.value, problem.line) == (
        ".env_bot",
        "NOTIFY_ON_FILL",
        "false",
        3,
    )
    assert "already set on line 1" in problem.expected


def test_unparsable_line_is_a_problem_with_its_line() -> None:
    document = read_dotenv_text('GOOD=1\n\n=no key here\nQUOTE="unterminated\n', ".env")
    assert document.entries == {"GOOD": DotenvEntry("GOOD", "1", 1)}
    assert [(p.line, p.key) for p in document.problems] == [(3, None), (4, None)]
    assert "cannot parse '=no key here'" in document.problems[0].expected
    assert "expected KEY=value" in document.problems[0].expected


def test_key_without_equals_sign_is_a_problem() -> None:
    document = read_dotenv_text("A=1\nJUST_A_WORD\n", ".env")
    [problem] = document.problems
    assert problem.line == 2
    assert "'JUST_A_WORD' has no '='" in problem.expected
    assert "JUST_A_WORD" not in document.entries


def test_every_bad_line_is_reported_not_only_the_first() -> None:
    text = "A=1\nA=2\n=x\nB\nB=3\nB=4\n"
    document = read_dotenv_text(text, ".env")
    assert [p.line for p in document.problems] == [2, 3, 4, 6]
