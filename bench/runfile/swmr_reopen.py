"""Clear the "open for write" flags a crashed SWMR writer leaves in an HDF5 superblock.

After a ``kill -9`` the superblock (version 2 or 3, written with ``libver="latest"``) keeps its
file-consistency flags set, and HDF5 refuses to open the file for writing again ("file is
already open for write ... may use <h5clear file>"). ``bench resume`` must append to that file,
so it does what ``h5clear -s`` does: zero the flags byte and rewrite the superblock checksum.

Layout (HDF5 File Format Specification, "Superblock Version 2 and 3"): signature (8 bytes),
version (1), size of offsets (1), size of lengths (1), file consistency flags (1), base address,
superblock extension address, end-of-file address, root group object header address (each
"size of offsets" bytes), then a 4-byte checksum of everything before it: Jenkins' lookup3
``hashlittle`` with initial value 0 (the specification's "Appendix C").

Only a superblock at offset 0 whose stored checksum verifies is touched; anything else is left
alone with a clear error.
"""

from __future__ import annotations

import struct
from pathlib import Path

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MASK = 0xFFFFFFFF


class SuperblockError(OSError):
    """The file's superblock is not one this module may edit (message names the file)."""


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` of ``data`` (the HDF5 metadata checksum)."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _MASK
    pos = 0
    while length > 12:
        x, y, z = struct.unpack_from("<III", data, pos)
        a, b, c = (a + x) & _MASK, (b + y) & _MASK, (c + z) & _MASK
        # mix(a, b, c)
        a = (a - c) & _MASK; a ^= _rot(c, 4); c = (c + b) & _MASK  # noqa: E702
        b = (b - a) & _MASK; b ^= _rot(a, 6); a = (a + c) & _MASK  # noqa: E702
        c = (c - b) & _MASK; c ^= _rot(b, 8); b = (b + a) & _MASK  # noqa: E702
        a = (a - c) & _MASK; a ^= _rot(c, 16); c = (c + b) & _MASK  # noqa: E702
        b = (b - a) & _MASK; b ^= _rot(a, 19); a = (a + c) & _MASK  # noqa: E702
        c = (c - b) & _MASK; c ^= _rot(b, 4); b = (b + a) & _MASK  # noqa: E702
        length -= 12
        pos += 12
    if length == 0:
        return c
    x, y, z = struct.unpack("<III", data[pos:pos + length] + b"\0" * (12 - length))
    a, b, c = (a + x) & _MASK, (b + y) & _MASK, (c + z) & _MASK
    # final(a, b, c)
    c ^= b; c = (c - _rot(b, 14)) & _MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & _MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & _MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & _MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & _MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & _MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & _MASK  # noqa: E702
    return c


def clear_write_flags(path: str | Path) -> bool:
    """Zero the superblock's consistency flags of ``path``; True if they were set."""
    path = Path(path)
    with open(path, "r+b") as handle:
        head = handle.read(64)
        if head[:8] != SIGNATURE:
            raise SuperblockError(f"{path}: no HDF5 superblock at offset 0")
        version, offsets = head[8], head[9]
        if version not in (2, 3) or offsets not in (2, 4, 8):
            raise SuperblockError(f"{path}: superblock version {version} (needs 2 or 3, libver='latest')")
        size = 12 + 4 * offsets
        stored = struct.unpack_from("<I", head, size)[0]
        if lookup3(head[:size]) != stored:
            raise SuperblockError(f"{path}: superblock checksum does not verify; not touching it")
        if head[11] == 0:
            return False
        fixed = bytearray(head[:size])
        fixed[11] = 0
        handle.seek(0)
        handle.write(bytes(fixed) + struct.pack("<I", lookup3(bytes(fixed))))
        handle.flush()
    return True
