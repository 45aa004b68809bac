"""Where the control socket is bound and connected, including paths too long for AF_UNIX.

A Unix socket address holds at most 107 bytes of path on Linux (108 with the NUL), and a
bot home deep in a file system easily exceeds that. The server then binds in a short
private directory (under $XDG_RUNTIME_DIR, else /tmp) and puts a symlink at the requested
path; clients given the long path connect to the symlink's target instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tbot.errors import TbotError

MAX_SOCKET_PATH_BYTES: Final = 107
SOCKET_NAME: Final = "engine.sock"
_PRIVATE_DIR_PREFIX: Final = "tbot-"
_PROBE_TIMEOUT_SECONDS: Final = 1.0


# Where the engine binds under systemd (its RuntimeDirectory), for the engine and clients.
SOCKET_ENV_VAR: Final = "TBOT_CONTROL_SOCKET"


def socket_override(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The socket named outside the bot home: `explicit` (--socket), else
    $TBOT_CONTROL_SOCKET; None means the home's own ``{CONTROL_DIR}/engine.sock``."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(SOCKET_ENV_VAR)
    return Path(from_env).expanduser() if from_env else None


class ControlSocketError(TbotError):
    """The control socket cannot be bound: the path is taken by something live or foreign."""


def fits(path: Path) -> bool:
    """Whether `path` can be used as an AF_UNIX address as it is."""
    return len(os.fsencode(path)) <= MAX_SOCKET_PATH_BYTES


def connect_path(path: Path) -> Path:
    """The address a client should connect to for the socket published at `path`: `path`
    itself when short enough, else the target of its symlink (the server's short bind)."""
    if fits(path):
        return path
    return Path(os.path.realpath(path))


def _is_live(address: Path) -> bool:
    """Whether a server accepts connections at `address` right now."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(_PROBE_TIMEOUT_SECONDS)
    try:
        probe.connect(os.fspath(address))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        # Anything else (permission denied, a timeout on a full backlog) may well be a live
        # engine: never take the socket over on a guess.
        return True
    finally:
        probe.close()
    return True


def _remove_private_dir(socket_file: Path) -> None:
    """Remove a private bind directory of ours (``tbot-*`` holding only the socket)."""
    directory = socket_file.parent
    if not directory.name.startswith(_PRIVATE_DIR_PREFIX):
        return
    with contextlib.suppress(OSError):
        socket_file.unlink(missing_ok=True)
        directory.rmdir()


def clear_stale(path: Path) -> None:
    """Make `path` free for a new server: remove a socket (or our symlink to one) left by
    a server that is gone. Raises `ControlSocketError` if a server still answers there or
    if `path` is some other kind of file, which is never deleted."""
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if target.exists() and _is_live(target):
            raise ControlSocketError(
                f"another engine is already listening on {path} (-> {target}); "
                "stop it first or choose another CONTROL_DIR"
            )
        path.unlink()
        if not target.exists() or stat.S_ISSOCK(target.lstat().st_mode):
            _remove_private_dir(target)
        return
    if not path.exists():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise ControlSocketError(
            f"{path} exists and is not a socket; refusing to replace it (move it away)"
        )
    if _is_live(connect_path(path)):
        raise ControlSocketError(
            f"another engine is already listening on {path}; "
            "stop it first or choose another CONTROL_DIR"
        )
    path.unlink()


def _private_dir_mode(socket_mode: int) -> int:
    # The directory must let through exactly whom the socket's mode admits: search (x)
    # only, so the directory cannot be listed.
    mode = 0o700
    if socket_mode & 0o070:
        mode |= 0o010
    if socket_mode & 0o007:
        mode |= 0o001
    return mode


def _private_dir_base() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    # Leave room for "/tbot-XXXXXXXX/engine.sock".
    if runtime and os.path.isdir(runtime) and len(os.fsencode(runtime)) <= 64:
        return runtime
    # A fresh mkdtemp directory under /tmp, not a fixed name: nobody can pre-create it.
    return "/tmp"


@dataclass(frozen=True)
class SocketBinding:
    """Where one server binds (`bind_path`) for the address it was asked for (`requested`).
    When they differ, `private_dir` holds the socket and `requested` becomes a symlink."""

    requested: Path
    bind_path: Path
    private_dir: Path | None

    @classmethod
    def claim(cls, requested: Path, *, socket_mode: int) -> SocketBinding:
        """Clear a stale socket at `requested` (see `clear_stale`) and choose where to
        bind, making the private directory when the path is too long."""
        requested = Path(requested)
        requested.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        clear_stale(requested)
        if fits(requested):
            return cls(requested, requested, None)
        private_dir = Path(tempfile.mkdtemp(prefix=_PRIVATE_DIR_PREFIX, dir=_private_dir_base()))
        private_dir.chmod(_private_dir_mode(socket_mode))
        return cls(requested, private_dir / SOCKET_NAME, private_dir)

    def publish(self) -> None:
        """After binding: put the symlink at the requested path, if one is needed."""
        if self.private_dir is not None:
            self.requested.symlink_to(self.bind_path)

    def release(self, bound_inode: int | None) -> None:
        """Remove what `claim` and `publish` made: the socket file (only if it is still the
        one bound, inode `bound_inode`), the symlink (only if it still points here), and
        the private directory."""
        with contextlib.suppress(OSError):
            if bound_inode is not None and self.bind_path.lstat().st_ino == bound_inode:
                self.bind_path.unlink()
        if self.private_dir is not None:
            with contextlib.suppress(OSError):
                if (
                    self.requested.is_symlink()
                    and Path(os.readlink(self.requested)) == self.bind_path
                ):
                    self.requested.unlink()
            with contextlib.suppress(OSError):
                self.private_dir.rmdir()

    def abandon(self) -> None:
        """Undo `claim` when binding failed: remove an empty private directory."""
        if self.private_dir is not None:
            with contextlib.suppress(OSError):
                self.private_dir.rmdir()
