"""The counters and histograms of processes that are gone, kept in a file of their own so a scrape's sums never go
down: a dead process's files are added into `counter_retired.db` and `histogram_retired.db` (prometheus_client's
own file format, which its MultiProcessCollector sums with the rest), then removed; its gauges just go.

Merging holds an exclusive lock on the folder and a scrape a shared one, so no scrape sees a value both in a dead
process's file and in the retired one, or in neither. Nothing here imports prometheus_client (see multiprocess.py).
"""
from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".merge.lock"
ADDITIVE = ("counter", "histogram")  # kinds whose values from many processes are summed: a dead one's stay
_INT, _TWO_DOUBLES = struct.Struct("i"), struct.Struct("dd")


@contextmanager
def folder_lock(folder: str | os.PathLike, shared: bool = False) -> Iterator[None]:
    """Shared for a scrape, exclusive for a merge."""
    with open(Path(folder) / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def retire(folder: Path, files: list[Path]) -> None:
    """Add the dead processes' counter and histogram files into the retired ones, then remove every file given."""
    with folder_lock(folder):
        for kind in ADDITIVE:
            sources = [file for file in files if file.name.startswith(kind + "_") and file.exists()]
            if sources:
                _add_into(folder / f"{kind}_retired.db", sources)
        for file in files:
            file.unlink(missing_ok=True)


def _add_into(target: Path, sources: list[Path]) -> None:
    totals = read_values(target) if target.exists() else {}
    for source in sources:
        for key, value in read_values(source).items():
            totals[key] = totals.get(key, 0.0) + value
    temporary = target.with_suffix(".tmp")
    temporary.write_bytes(_encoded(totals))
    os.replace(temporary, target)  # whole or not at all, even if this process dies here


def read_values(file: Path) -> dict[str, float]:
    """A prometheus_client mmap file's keys and values: an int32 of bytes used, 4 bytes of padding, then for each
    entry an int32 key length, the UTF-8 key padded to 8-byte alignment, a double value and a double timestamp."""
    data = file.read_bytes()
    used = _INT.unpack_from(data, 0)[0] if len(data) >= 8 else 0
    values: dict[str, float] = {}
    pos = 8
    while pos < used:
        length = _INT.unpack_from(data, pos)[0]
        key = data[pos + 4:pos + 4 + length].decode("utf-8")
        pos += 4 + length + (8 - (length + 4) % 8)
        values[key] = values.get(key, 0.0) + _TWO_DOUBLES.unpack_from(data, pos)[0]
        pos += 16
    return values


def _encoded(values: dict[str, float]) -> bytes:
    body = bytearray()
    for key, value in values.items():
        encoded = key.encode("utf-8")
        body += _INT.pack(len(encoded)) + encoded + b" " * (8 - (len(encoded) + 4) % 8)
        body += _TWO_DOUBLES.pack(value, 0.0)
    return _INT.pack(8 + len(body)) + b"\0" * 4 + bytes(body)
