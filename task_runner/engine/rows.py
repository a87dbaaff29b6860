"""The shape of ``NAME.index`` (index.py): its tables, and the packed rows
that hold its files. Pure: no file is read or written here.

A snapshot's files are recorded by folder, a batch of files to a row of
``packed``: their names in one text (``\0`` between them: no name holds
it), compressed, and their numbers in one array of 64-bit integers, three
a file (file id, size, modification time in ns; id 0 where ids are not
trusted), with the volume once for the row (a folder's files share it;
four numbers a file, volume first, and no volume for the row when they do
not). One row for up to BATCH files costs the run one SQLite insert where
a row per file cost one each; the next run that needs to look a file up
unpacks them once into a table it can search (lookup.PreviousIndex).

The first indexes (before packed rows) held a table ``files`` with a row
per file; they are still read.
"""

import array
import itertools
import os
import sys
import zlib

from ..fs import osutil

FORMAT = 2
SCHEMA = ("CREATE TABLE meta (key TEXT, value)",
          "CREATE TABLE folders (id INTEGER PRIMARY KEY, path)",
          "CREATE TABLE packed (folder INTEGER, count INTEGER, dev INTEGER, names BLOB, numbers BLOB)")
COLUMNS = "count, dev, names, numbers"  # of ``packed``, as ``pack`` gives them and ``unpack`` takes them
# What a lookup searches: a row a file (the first format's table, or the packed rows unpacked).
FILES = "CREATE TABLE files (folder INTEGER, name, dev INTEGER, ino INTEGER, size INTEGER, mtime INTEGER)"
NUMBERS = 4  # volume, id, size, time
MAX_FILES = 2000  # files a row holds at most (index.BATCH)
MAX_NAME = 1024  # bytes of a name at most, with its separator (255 UTF-16 units of NTFS, 4 bytes each)


def pack(names, numbers):
    """(count, dev, names, numbers) of one ``packed`` row: the files
    ``names`` with their NUMBERS integers each (volume first) in
    ``numbers``."""
    values = array.array("q", numbers)
    devs = set(values[0::NUMBERS])
    dev = devs.pop() if len(devs) == 1 else None
    if dev is not None:
        del values[0::NUMBERS]
    return (len(names), dev, zlib.compress(osutil.name_to_bytes("\0".join(names)), 1), values.tobytes())


def unpack(count, dev, names, numbers, byteorder=sys.byteorder):
    """The files of one ``packed`` row, as (name, dev, ino, size, mtime)
    with dev and ino None where not trusted; [] when the row is not what
    ``pack`` makes (an index is untrusted: a damaged row finds nothing).
    ``byteorder``: the one of the machine that wrote it."""
    if not (isinstance(names, bytes) and isinstance(numbers, bytes) and isinstance(count, int)
            and (dev is None or isinstance(dev, int)) and 0 <= count <= MAX_FILES):
        return []
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(names, count * MAX_NAME + 1)  # bounded: a damaged row never fills memory
        if inflate.unconsumed_tail or not inflate.eof:
            return []
        text = osutil.name_from_bytes(raw)
        values = array.array("q")
        values.frombytes(numbers)
    except (zlib.error, UnicodeDecodeError, ValueError):
        return []
    if byteorder != sys.byteorder:
        values.byteswap()
    found = text.split("\0") if count else []
    width = NUMBERS if dev is None else NUMBERS - 1
    if len(found) != count or len(values) != width * count:
        return []
    values = values.tolist()
    devs = values[0::width] if dev is None else itertools.repeat(dev)
    return [(name, volume if ino else None, ino or None, size, mtime) for name, volume, ino, size, mtime
            in zip(found, devs, values[width - 3::width], values[width - 2::width], values[width - 1::width])]


def storable(name):
    """A folder's path as the index keeps it: text, or its bytes when it
    is not valid UTF-8 (SQLite text is)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return osutil.name_to_bytes(name)


def name_of(value):
    """A name or path read from the index (text or bytes), or None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return osutil.name_from_bytes(value)
        except UnicodeDecodeError:
            return None
    return None


def plain(part):
    """True for a plain file or folder name: never empty, ".", "..", nor
    holding a separator or a character no name holds."""
    if part in ("", ".", "..") or os.sep in part or "\0" in part:
        return False
    return not (osutil.WINDOWS and ("/" in part or ":" in part))
