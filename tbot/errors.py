"""The base of every error tbot reports to a person.

A `TbotError` carries a message meant for an operator (no traceback, no secret) and the
process exit status the CLI uses for it: 2 for bad input, 1 for a finding.
"""

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_BAD_INPUT = 2


class TbotError(Exception):
    """An error with a human-readable message; the CLI prints it and exits with `exit_code`."""

    exit_code: int = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
