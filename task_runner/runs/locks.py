"""The cross-process locks of a task, by name: one run of a task at a time
(``task_lock``), and one upload of its offsite copy (``offsite_lock``,
beside it, so that a long upload does not hold the run's lock). Both live
in the config's ``lock_dir``; the name keeps a readable part of the task's
name and a digest of all of it."""

import hashlib
import os
import re

from ..fs.locking import FileLock


def task_lock(config, task_name):
    """The lock that only one run of ``task_name`` may hold at a time."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", task_name)[:40]
    digest = hashlib.sha1(task_name.encode("utf-8")).hexdigest()[:12]
    return FileLock(os.path.join(config.lock_dir, "task-%s-%s.lock" % (slug, digest)))


def offsite_lock(config, task_name):
    """The lock one upload of ``task_name`` holds (beside the task locks)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", task_name)[:40]
    digest = hashlib.sha1(task_name.encode("utf-8")).hexdigest()[:12]
    return FileLock(os.path.join(config.lock_dir, "offsite-%s-%s.lock" % (slug, digest)))
