"""tbot: an intraday equities trading bot with its own double-entry ledgers.

The engine side lives here and never imports Textual; the console is the `tui` package.
"""

from tbot.version import __version__

__all__ = ["__version__"]
