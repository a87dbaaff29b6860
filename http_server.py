#!/usr/bin/env python3
"""The status page and the HTTP API: ``python3 http_server.py --help``
says how to start it (the program is task_runner/commands/serve.py)."""

import sys

if sys.version_info < (3, 6):  # checked before anything that needs Python 3: a message, not a traceback
    sys.stderr.write("%s needs Python 3.6 or newer (this is %d.%d)\n"
                     % (__file__, sys.version_info[0], sys.version_info[1]))
    sys.exit(2)

from task_runner.commands import cli, serve

PROGRAM = "http_server"


def _parser():
    return serve.parser(__file__)


def main(argv=None):
    return serve.main(argv, __file__)


if __name__ == "__main__":
    sys.exit(cli.run_main(main, PROGRAM))
