"""A database file copied into sealed private memory, kept only if it held still while copied.

Mapping the operator's file itself is unsafe: `cp new.mmdb City.mmdb` truncates it in place,
and a page fault on a mapped page past the new end is SIGBUS, which kills the process (and,
with workers, every generation forked from it). A memfd that we fill, seal against every
change and map read-only cannot shrink under us, is shared by forked workers without copies,
and still lets `release()` drop our page mappings (the memfd keeps the data).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import stat

from geodns.errors import GeoIPError

Stamp = tuple[int, int, int, int]  # (mtime_ns, size, inode, device)
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
_CHUNK = 1 << 24


class Changing(GeoIPError):
    """The file changed while we copied it: still being written, so try again later."""


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)


def look(path: str) -> Stamp | None:
    """What the file looks like now (None when it is missing): compared between polls."""
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


class Snapshot:
    """A stable private copy of one file: `map()` it as often as needed, then `close()`.

    `name` and `read()` make it the file object maxminddb's MODE_FD expects; `read()` gives
    a fresh map of the copy rather than a third copy of the bytes.
    """

    def __init__(self, path: str) -> None:
        self.name = path
        src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            before = os.fstat(src)
            if not stat.S_ISREG(before.st_mode):
                raise GeoIPError(f"{path}: not a regular file")
            if before.st_size == 0:
                raise GeoIPError(f"{path}: empty file")
            self.size, self.stamp = before.st_size, _stamp(before)
            self.fd = os.memfd_create("geodns-geoip", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            try:
                copied = _pour(src, self.fd, self.size)
                if copied != self.size or _stamp(os.fstat(src)) != self.stamp:
                    raise Changing(f"{path}: changed while being read (still being written?)")
                if look(path) != self.stamp:
                    raise Changing(f"{path}: replaced while being read")
                fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, _SEALS)
                os.posix_fadvise(src, 0, 0, os.POSIX_FADV_DONTNEED)  # cache it once, not twice
            except BaseException:
                os.close(self.fd)
                raise
        finally:
            os.close(src)

    def map(self) -> mmap.mmap:
        """A read-only shared map of the sealed copy (fork shares it; nothing can cut it)."""
        return mmap.mmap(self.fd, self.size, access=mmap.ACCESS_READ)

    def read(self) -> mmap.mmap:
        return self.map()

    def close(self) -> None:
        """The maps made so far keep the copy alive; the descriptor is no longer needed."""
        os.close(self.fd)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pour(src: int, dst: int, size: int) -> int:
    """Copy up to `size` bytes in the kernel; fewer when the file shrank meanwhile."""
    offset = 0
    while offset < size:
        sent = os.sendfile(dst, src, offset, min(_CHUNK, size - offset))
        if sent == 0:
            break
        offset += sent
    return offset
