"""Where the studio's files go, who may connect, and what the page may set.

Convention:
    - Every file the studio writes lies in a per-session folder ``<temp>/dreamvid-ui/s-<hash>/``, named
      from the browser session (never from anything typed); folders untouched for :data:`MAX_AGE` seconds
      are removed when a new one is made.
    - An upload is copied into its session folder under a name made from its content, so uploading the
      same file again gives the same path (and a stopped render of it can be resumed).
    - Nothing in the page names a server path: settings that read files or reach other machines
      (:data:`SERVER_KEYS`, ``guide:`` objectives) are refused.
    - The studio listens on loopback unless told otherwise; any other address needs a password.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from dreamvid.errors import ConfigError, InputError

ROOT_NAME = "dreamvid-ui"
MAX_AGE = 2 * 24 * 3600
"""Seconds a session folder is kept after its last use."""

AUTH_ENV = "DREAMVID_UI_AUTH"
"""The environment variable holding ``USER:PASS`` (so the password is not in the process list)."""

SERVER_KEYS = frozenset({"model.weights", "video.flow_weights", "scale.workers", "scale.address"})
"""Settings the page may not change: they name server files or other machines."""

_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


def default_root() -> Path:
    """``<temp>/dreamvid-ui``: the folder above every session folder."""
    return Path(tempfile.gettempdir()) / ROOT_NAME


def session_dir(root: Path, session: str) -> Path:
    """The folder of browser session ``session`` under ``root``, made (private) if new; old ones are removed.

    Example:
        >>> root = Path(tempfile.mkdtemp())
        >>> session_dir(root, "abc") == session_dir(root, "abc") != session_dir(root, "xyz")
        True
    """
    folder = root / ("s-" + hashlib.sha256(session.encode("utf-8")).hexdigest()[:20])
    if not folder.is_dir():
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        clean_old(root)
        folder.mkdir(mode=0o700, exist_ok=True)
    os.utime(folder)
    return folder


def clean_old(root: Path, *, max_age: float = MAX_AGE) -> list[Path]:
    """Remove the session folders under ``root`` untouched for ``max_age`` seconds; return them."""
    removed = []
    now = time.time()
    for folder in root.glob("s-*"):
        try:
            if folder.is_dir() and now - folder.stat().st_mtime > max_age:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except OSError:
            continue
    return removed


def keep_upload(upload: str | os.PathLike, folder: Path) -> Path:
    """Copy an uploaded file into ``folder/inputs`` under a name made from its content (kept if there).

    Raises:
        InputError: the upload is missing or empty.
    """
    source = Path(upload)
    if not source.is_file() or source.stat().st_size == 0:
        raise InputError("the uploaded file is missing or empty; upload it again")
    digest = hashlib.sha256()
    with source.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    suffix = source.suffix.lower() if _SUFFIX.fullmatch(source.suffix.lower()) else ".bin"
    target = folder / "inputs" / (digest.hexdigest()[:24] + suffix)
    if not target.is_file():
        target.parent.mkdir(mode=0o700, exist_ok=True)
        part = target.with_name("." + target.name + ".part")
        shutil.copyfile(source, part)
        part.replace(target)
    return target


def check_setting(table: str, key: str, value: object) -> None:
    """Refuse a setting the page may not change (:data:`SERVER_KEYS`, a ``guide:`` picture path)."""
    if f"{table}.{key}" in SERVER_KEYS:
        raise ConfigError(f"{table}.{key} names a server file or machine and cannot be set from the studio; "
                          "use the command line for it")
    if (table, key) == ("dream", "objective") and "guide:" in str(value):
        raise ConfigError("guide:PICTURE objectives read a server file and cannot be used in the studio; use "
                          "the command line for them")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.1``, ``::1``, ``localhost``).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_auth(auth: str | None, auth_file: Path | None, env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """The ``(user, password)`` the page asks for: ``--auth``, else ``--auth-file``'s first line, else
    :data:`AUTH_ENV`; ``None`` when none is given.

    Raises:
        ConfigError: the text is not ``USER:PASS``, or the file cannot be read.

    Example:
        >>> resolve_auth("ann:secret", None, {})
        ('ann', 'secret')
    """
    env = dict(os.environ) if env is None else env
    text, source = auth, "--auth"
    if text is None and auth_file is not None:
        try:
            lines = Path(auth_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read --auth-file {auth_file}: {getattr(exc, 'strerror', None) or exc}") from None
        text, source = (lines[0].strip() if lines else ""), f"--auth-file {auth_file}"
    if text is None and env.get(AUTH_ENV):
        text, source = env[AUTH_ENV], AUTH_ENV
    if text is None:
        return None
    user, colon, password = text.partition(":")
    if not colon or not user or not password:
        raise ConfigError(f"{source} must be USER:PASS with neither empty, got {'an empty text' if not text else 'no colon' if not colon else 'an empty part'}")
    return user, password


def check_host(host: str, auth: tuple[str, str] | None) -> None:
    """Refuse to serve on an address other than loopback without a password."""
    if not is_loopback(host) and auth is None:
        raise ConfigError(f"--host {host} lets other machines in; give a password with --auth USER:PASS, "
                          f"--auth-file FILE or {AUTH_ENV}=USER:PASS, or serve on 127.0.0.1")
