"""Files that reached the new remote snapshot damaged, sent again.

rclone checks what it wrote: a hash of the new remote file that differs
from its source's is "corrupted on transfer" (rclone.Result.damaged). With
``--copy-dest`` the source is the previous remote snapshot's copy, so one
file damaged there (rewritten at the same size and time: the remote's own
fault, or anyone's who can write there) failed that upload, and every later
one, as each copied it forward again. Those files are sent again from the
local snapshot instead (rclone itself has usually removed the bad copy and
sent the file already); then the whole send runs once more, finding
everything else in place. The older remote copy keeps its damage: the
upload's summary says so, and a restore of that copy from the remote
reports the file.
"""

import os
import tempfile
import time

from ..console import plural
from . import layout
from .rclone import MAX_DAMAGED, Result

_SUMMED = ("bytes", "transfers", "serverSideCopies", "serverSideCopyBytes")


def send_again(rc, task, name, args, first, source, stop_event, on_stats, deadline, log):
    """After ``first`` (the Result of ``rclone ARGS``, the send of snapshot
    ``name``, with server-side copies from remote snapshot ``source``)
    found files damaged: send those the new snapshot lacks or holds
    with another hash (``--checksum``: rclone has usually removed the bad
    copy and sent the file itself already, and then nothing travels
    twice), then run ``args`` again; all by ``deadline`` (time.monotonic;
    None: none). The last Result, with the statistics of all the runs
    summed and ``damaged`` the paths found damaged."""
    paths = sorted(set(first.damaged))
    say_damaged(source, paths, len(first.damaged) >= MAX_DAMAGED, log)
    fd, listing = tempfile.mkstemp(prefix="task_runner-damaged-", suffix=".txt")
    try:
        listed = [p for p in paths if "\n" not in p and "\r" not in p]  # one a line (the others: rclone's own send)
        with os.fdopen(fd, "wb") as f:
            f.write("".join(p + "\n" for p in listed).encode("utf-8", "surrogateescape"))
        extra = ["--bwlimit", task.offsite.bwlimit] if task.offsite.bwlimit else []
        fixed = rc.run(["copy", os.path.join(task.dest, name), layout.join(task.offsite.remote, name),
                        "--files-from-raw", listing, "--checksum"] + extra,
                       stop_event=stop_event, on_stats=on_stats, timeout=time_left(deadline))
    finally:
        os.unlink(listing)
    runs = [_without(first, [os.path.join(task.dest, name, p.replace("/", os.sep)) for p in paths]), fixed]
    if fixed.code == 0:
        runs.append(rc.run(args, stop_event=stop_event, on_stats=on_stats, timeout=time_left(deadline)))
    return combined(runs, tuple(paths))


def combined(runs, damaged=()):
    """The last of ``runs`` (rclone Results of one send), with the
    statistics of all of them summed, and ``damaged``."""
    last = runs[-1]
    stats = dict(last.stats or {})
    for key in _SUMMED:
        stats[key] = sum(int((r.stats or {}).get(key) or 0) for r in runs)
    return Result(last.code, stats, last.error, last.output, last.data, damaged)


def say_damaged(source, paths, at_least, log):
    """Warn that remote snapshot ``source`` holds ``paths`` damaged
    (``at_least``: there may be more), sent instead of copied."""
    paths = sorted(paths)
    shown = ", ".join(paths[:10]) + (" ..." if len(paths) > 10 else "")
    many = ("at least " if at_least else "") + plural(len(paths), "file")
    log.warning("offsite: the remote copy %s holds %s that %s not what was uploaded (damaged, replaced or gone "
                "there): %s; sent from the local snapshot instead of copied from it", source, many,
                "is" if len(paths) == 1 and not at_least else "are", shown)


def time_left(deadline):
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _without(result, damaged):
    """``result`` with the server-side copies of the ``damaged`` files (local
    paths) taken out of its statistics: rclone counts such a copy, and its
    bytes, before it finds it damaged and removes it; then it sends the
    file, which it counts in the bytes again but not in the transfers (so
    the transfers keep it: it is one file sent)."""
    sizes = []
    for path in damaged:
        try:
            sizes.append(os.lstat(path).st_size)
        except OSError:
            pass
    stats = dict(result.stats or {})
    for key, less in (("bytes", sum(sizes)), ("serverSideCopyBytes", sum(sizes)), ("serverSideCopies", len(sizes))):
        stats[key] = max(0, int(stats.get(key) or 0) - less)
    return result._replace(stats=stats)
