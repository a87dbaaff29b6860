"""scheduled_task_runner.py install-startup / uninstall-startup: start the
scheduler at logon, or no longer."""

import sys

from .. import console
from ..schedule import startup


class _Startup(object):
    EXAMPLES = []

    def __init__(self, name, alias, summary, install, script):
        self.NAME, self.ALIAS, self.SUMMARY, self.install, self.script = name, alias, summary, install, script
        self.EXAMPLES = [name]

    def run(self, config, args, program):
        try:
            text = startup.install(self.script, config.path) if self.install else startup.uninstall()
        except OSError as exc:
            console.print_safe("could not change the logon start-up: %s" % exc, sys.stderr)
            return 1
        console.print_safe(text)
        return 0


def verbs(script):
    """The two verbs for the scheduler's entry script ``script`` (the
    program a logon start-up runs)."""
    return [_Startup("install-startup", "--install-startup", "start the scheduler at logon (Windows: the "
                     "Startup folder; Linux: prints a systemd unit)", True, script),
            _Startup("uninstall-startup", "--uninstall-startup", "undo install-startup", False, script)]
