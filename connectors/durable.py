"""Files the flow creates or rewrites, written so that a kill at any instant leaves either
the old content or the new, never a torn file; and what a failed write does: stop the
process with one line naming the path (a resume is exact, as after a kill)."""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

EX_IOERR = 74  # sysexits.h: an input/output error


def stop_on_io_error(path: Path, problem: str) -> NoReturn:
    """End the process at once with `skuflow: <path>: <problem>`. Why not raise: an
    exception in a sink or a snapshot reaches Bytewax's Rust core, which panics and
    aborts with pages of backtrace that bury the cause; and an immediate exit is the
    same as a kill at this instant, which every state dir survives (the next start
    resumes from the last committed epoch, each output file cut back to it)."""
    sys.stdout.flush()
    sys.stderr.write(f"skuflow: {path}: {problem}; the flow stopped here and resumes exactly once this is fixed\n")
    sys.stderr.flush()
    os._exit(EX_IOERR)


def _io_problem(exc: BaseException) -> str | None:
    """What went wrong, if `exc` is an I/O failure (an OSError, or RocksDB's IO error)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "no space left on device"
        return os.strerror(exc.errno).lower()
    text = str(exc)
    if "No space left on device" in text:
        return "no space left on device"
    if text.startswith("IO error"):  # rocksdict raises RocksDB's status as a plain Exception
        return text.splitlines()[0]
    return None


@contextmanager
def io_guard(path: Path) -> Iterator[None]:
    """Writes to `path` (a file or a database dir): an I/O failure stops the process with
    one line (`stop_on_io_error`); any other exception goes on as it is."""
    try:
        yield
    except Exception as exc:
        problem = _io_problem(exc)
        if problem is None:
            raise
        stop_on_io_error(path, problem)


def ensure_free(path: Path, reserve: int) -> None:
    """Stop (one line) when the disk holding `path` has less than `reserve` bytes free:
    checked before each epoch's state is written, so the writes Bytewax makes itself
    (its SQLite recovery files, which cannot be guarded from here) still fit."""
    if reserve <= 0:
        return
    free = shutil.disk_usage(path).free
    if free < reserve:
        stop_on_io_error(path, f"no space left on device ({free:,} bytes free, --min-free-disk is {reserve:,})")


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, fsync it, rename it over `path`, and fsync
    the directory, so the rename itself survives a crash."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """fsync a file written by someone else (a library) before it is moved into place, or a
    directory, which is what makes a rename or a new file in it durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
