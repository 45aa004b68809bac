"""Reading `.env`-style text into key/value entries with their line numbers.

python-dotenv's own parser (`dotenv.parser.parse_stream`) is used rather than
`dotenv_values`: `dotenv_values` returns a plain dict, so it forgets line numbers, silently
keeps the last of two duplicate keys, skips lines it cannot parse, and interpolates
``${VAR}``. Here every entry keeps its line, duplicates and unparsable lines become
problems, and values are taken literally.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from dotenv.parser import Binding, parse_stream

from tbot.config.problems import ConfigProblem

_NEWLINE = re.compile(r"\r\n|\n|\r")
_SHOWN_LINE_CHARS = 60


@dataclass(frozen=True)
class DotenvEntry:
    """One ``KEY=value`` line: the value unquoted and stripped, and its 1-based line."""

    key: str
    value: str
    line: int


@dataclass(frozen=True)
class DotenvDocument:
    """The entries of one file (the first of any duplicate) and what was wrong with its lines."""

    source: str
    entries: dict[str, DotenvEntry]
    problems: tuple[ConfigProblem, ...]


def _first_line(binding: Binding) -> int:
    """The line the binding's content starts on.

    The parser's line is where it started reading, which is before any blank lines that
    precede the key; count those so a problem points at the key itself.
    """
    text = binding.original.string
    leading = text[: len(text) - len(text.lstrip())]
    return binding.original.line + len(_NEWLINE.findall(leading))


def _shown(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SHOWN_LINE_CHARS else text[:_SHOWN_LINE_CHARS] + "..."


def read_dotenv_text(text: str, source: str) -> DotenvDocument:
    """Parse `.env`-style `text`; `source` names the file in problems (e.g. ``.env_bot``).

    Comments (whole-line and trailing ``# ...``) and blank lines are ignored. Every problem
    with a line is collected, never only the first.
    """
    entries: dict[str, DotenvEntry] = {}
    problems: list[ConfigProblem] = []
    for binding in parse_stream(io.StringIO(text)):
        line = _first_line(binding)
        if binding.error:
            problems.append(
                ConfigProblem(
                    source,
                    None,
                    None,
                    f"cannot parse {_shown(binding.original.string)!r}; "
                    "expected KEY=value, a # comment or a blank line",
                    line,
                )
            )
            continue
        if binding.key is None:  # a comment or trailing blank lines
            continue
        if binding.value is None:
            problems.append(
                ConfigProblem(
                    source,
                    None,
                    None,
                    f"{binding.key!r} has no '='; expected KEY=value",
                    line,
                )
            )
            continue
        value = binding.value.strip()
        first = entries.get(binding.key)
        if first is not None:
            problems.append(
                ConfigProblem(
                    source,
                    binding.key,
                    value,
                    f"each key once; {binding.key} is already set on line {first.line}",
                    line,
                )
            )
            continue
        entries[binding.key] = DotenvEntry(binding.key, value, line)
    return DotenvDocument(source=source, entries=entries, problems=tuple(problems))
