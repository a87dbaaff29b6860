"""backup_now.py versions PATH [TASK]: the versions of one file or folder."""

from .. import restore_cli
from ..errors import UsageError
from ..logs import setup_logging

NAME = "versions"
SUMMARY = "list the distinct versions of a file or folder of src across the snapshots, newest first"
EXAMPLES = ["versions Documents/cv.docx", "versions C:/Users/me/Documents/cv.docx"]
ALIAS = "--versions"
WORDS = "words"


def add_arguments(p):
    p.add_argument("words", nargs="*", metavar="PATH [TASK]",
                   help="a path in src (absolute, or relative to src), then the task when several hold it")


def run(config, args, program):
    if not args.words or len(args.words) > 2:
        raise UsageError("versions takes a path, and the task when it is not the default one: "
                         "backup_now.py versions Documents/cv.docx [TASK]")
    setup_logging(config.log, program)
    return restore_cli.print_versions(config, args.words[0], args.words[1:])
