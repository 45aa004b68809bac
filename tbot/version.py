"""The running package's version, whose single source is VERSION.md (read at build time)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tbot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def current_tag() -> str:
    """The version tag as `.env_bot`'s VERSION_TAG must spell it, e.g. ``v0.1.0``."""
    return f"v{__version__}"
