"""Noticing that config.json changed, for the programs that run for long
(the scheduler, the HTTP server): the file's signature, and the config
re-read when it changes (an invalid edit keeps the previous settings)."""

import logging
import os

from . import load_config
from ..errors import ConfigError


class ConfigWatcher(object):
    """The current config of a long-running program: ``current()`` re-reads
    the file when its modification time or size changed. An invalid edit is
    logged once as an ERROR and the previous config stays in force."""

    def __init__(self, config, load=load_config, log=None):
        self.config = config
        self._load = load
        self._log = log or logging.getLogger(__name__)
        self._signature = file_signature(config.path)

    def current(self):
        sig = file_signature(self.config.path)
        if sig is None or sig == self._signature:
            return self.config
        self._signature = sig
        try:
            new = self._load(self.config.path)
        except ConfigError as exc:
            self._log.error("config.json was changed but is not valid; still using the previous "
                            "settings until it is fixed.\n%s", exc.report())
            return self.config
        self.config = new
        self._log.info("config.json reloaded: %d task(s)", len(new.tasks))
        return new


def file_signature(path):
    """(modification time, size) of ``path``, or None: what tells that a file changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)
