"""Reading the files a user names: regular files only, never more than a limit.

Every spec, answers file, configuration and data file cnncalc reads goes through
:func:`open_regular` or :func:`read_bounded`. The file is looked at with ``os.stat``
before it is opened: a folder, a named pipe (FIFO), a device (``/dev/zero``), a socket,
or a symlink to one of them is refused with a located error at once, so nothing can
block on a pipe or stream an endless device into memory. A regular file is then opened
without blocking, looked at again through the open descriptor (the path may have been
swapped in between), and read at most ``limit + 1`` bytes: one byte more than the limit
is how a file over it is recognised whatever its stat size says.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import BinaryIO

from cnncalc.core.errors import SpecError

CHUNK = 1 << 20
MAX_MODEL_BYTES = 2 * 1024 ** 3  # protobuf cannot parse a larger message (an ONNX model)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse(path: str, what: str, kind: str) -> SpecError:
    if os.path.islink(path):
        kind = f"a symlink to {kind} ({os.path.realpath(path)})"
    return SpecError(f"cannot read the {what}: {path} is {kind}, not a regular file",
                     file=path, kind="io", help=f"give the {what} as a regular file")


def open_regular(path: str | os.PathLike, what: str) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (after symlinks).

    Args:
        path: the file the user named.
        what: what the file is ("spec", "answers", "data file"), used in messages.

    Returns:
        A binary file object, positioned at the start; the caller closes it.

    Raises:
        SpecError: a missing or unreadable file, a folder, FIFO, device or socket
            (kind ``io``, naming the file).
    """
    name = os.fspath(path)
    try:
        kind = _kind(os.stat(name).st_mode)
    except OSError as exc:
        raise SpecError(f"cannot read the {what}: {exc.strerror}", file=name, kind="io",
                        help="check the path") from None
    if kind is not None:
        raise _refuse(name, what, kind)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        raise SpecError(f"cannot read the {what}: {exc.strerror}", file=name, kind="io",
                        help="check the path") from None
    kind = _kind(os.fstat(fd).st_mode)  # the path may have changed since the stat
    if kind is not None:
        os.close(fd)
        raise _refuse(name, what, kind)
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def too_large(path: str, size: int | str, limit: int, what: str, help: str | None) -> SpecError:
    """The located error for a file over its size limit."""
    size_text = f"{size:,} bytes" if isinstance(size, int) else size
    return SpecError(f"the {what} is {size_text}; the limit is {limit:,} bytes", file=path,
                     kind="limit", help=help)


def read_bounded(path: str | os.PathLike, limit: int, what: str, *, help: str | None = None,
                 larger: tuple[Callable[[bytes], bool], int] | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Args:
        path: the file the user named.
        limit: the most bytes accepted; at most ``limit + 1`` are ever read.
        what: what the file is, used in messages.
        help: the help line of the size-limit error.
        larger: ``(recognise, bigger_limit)``: when ``recognise`` is true of the first
            ``limit + 1`` bytes (an ONNX model, say), the file may have up to
            ``bigger_limit`` bytes.

    Raises:
        SpecError: not a regular file (see :func:`open_regular`), or over the limit
            (kind ``limit``).
    """
    name = os.fspath(path)
    with open_regular(name, what) as fh:
        try:
            data = _read(fh, limit + 1)
            if len(data) > limit and larger is not None and larger[0](data):
                limit = larger[1]
                data += _read(fh, limit + 1 - len(data))
        except OSError as exc:
            raise SpecError(f"cannot read the {what}: {exc.strerror}", file=name, kind="io",
                            help="check the path") from None
    if len(data) > limit:
        raise too_large(name, f"more than {limit:,} bytes", limit, what, help)
    return data


def _read(fh: BinaryIO, count: int) -> bytes:
    """Up to ``count`` bytes, in chunks (a short read is not the end of a file)."""
    parts, left = [], count
    while left > 0:
        part = fh.read(min(left, CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
