"""Configuration problems, collected and reported all at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tbot.errors import EXIT_BAD_INPUT, TbotError


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with one key of one file.

    `value` is the raw text as written, or None when the key is missing. Values of secret
    files are never put here (callers pass None), so a problem can always be printed.
    """

    file: str
    key: str | None
    value: str | None
    expected: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.key is None:
            return f"{where}: {self.expected}"
        if self.value is None:
            return f"{where}: {self.key} is missing; expected {self.expected}"
        return f"{where}: {self.key}={self.value!r}: expected {self.expected}"


class ConfigError(TbotError):
    """Configuration that cannot be used. Lists every problem found, not only the first."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: Iterable[ConfigProblem], headline: str = "invalid configuration"):
        self.problems = list(problems)
        lines = [
            f"{headline} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):"
        ]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))
