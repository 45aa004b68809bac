"""Keeping a channel URL's secrets out of anything a person or a log reads.

An apprise URL carries its credentials anywhere in it: a password (``mailto://u:PW@h``),
tokens in the host and path (``slack://T/B/TOKEN``, ``json://h/hook/TOKEN``), keys in the
query (``?apikey=``). So a URL is never shown at all (a channel is named by its group, its
position and its scheme), and a text that may have been built from one (apprise's own
log lines, an exception's message) is masked: every part of the URL, raw or URL-decoded,
is replaced before the text goes anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

MASK: Final = "•••"
# Shorter pieces are not secrets ("on", "us") and masking them would garble every reason.
MIN_FRAGMENT: Final = 3
_SEPARATORS: Final = re.compile(r"[/:@?&=#,;+\s]+")


def scheme_of(url: str) -> str:
    """The scheme of `url` (``slack``), or ``?`` when it has none: the only part of a
    channel URL ever printed."""
    scheme, separator, _ = url.partition("://")
    if not separator or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,31}", scheme):
        return "?"
    return scheme.lower()


def secret_fragments(url: str) -> frozenset[str]:
    """Every piece of `url` that may be secret: the whole URL, its user, password, host,
    port, path segments, query values and fragment, raw and URL-decoded, and each of those
    split again at separators. The scheme alone is left out (it is printed)."""
    scheme = scheme_of(url)
    pieces: set[str] = {url, url.partition("://")[2]}
    try:
        parts = urlsplit(url)
        pieces.update((parts.netloc, parts.path, parts.query, parts.fragment))
        pieces.update(value for _, value in parse_qsl(parts.query, keep_blank_values=True))
        pieces.update(
            str(value) for value in (parts.username, parts.password, parts.hostname) if value
        )
        pieces.update(parts.path.split("/"))
    except ValueError:  # an unparseable URL (a bad port...): its separators still split it
        pass
    for piece in list(pieces):
        pieces.update(_SEPARATORS.split(piece))
    for piece in list(pieces):
        pieces.add(unquote(piece))
    return frozenset(
        piece for piece in pieces if len(piece) >= MIN_FRAGMENT and piece.lower() != scheme
    )


# Anything shaped like a URL keeps only its scheme, whatever URL it is.
_ANY_URL: Final = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,31})://[^\s'\"<>)]*")
# apprise's own "secure logging" keeps a secret's first and last characters (``S...W``).
_APPRISE_ELIDED: Final = re.compile(r"[^\s/:@?&=]*\.\.\.[^\s/:@?&=]*")


def scrub(text: str, fragments: Iterable[str]) -> str:
    """`text` with every fragment masked, longest first (so a password inside the whole
    URL is never left half-masked); then any URL left keeps only its scheme, and apprise's
    half-masked values (``S...W``) are masked whole."""
    for fragment in sorted(set(fragments), key=len, reverse=True):
        if fragment in text:
            text = text.replace(fragment, MASK)
    text = _ANY_URL.sub(lambda match: f"{match.group(1)}://{MASK}", text)
    return _APPRISE_ELIDED.sub(MASK, text)
