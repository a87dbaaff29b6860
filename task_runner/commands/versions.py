"""backup_now.py versions PATH [TASK] (or TASK PATH): the versions of one file or folder."""

from ..fs import osutil
from ..errors import UsageError
from ..logs import setup_logging

NAME = "versions"
SUMMARY = "list the distinct versions of a file or folder of src across the snapshots, newest first"
EXAMPLES = ["versions Documents/cv.docx", 'versions "MD1" Documents/cv.docx',
            "versions " + osutil.example_path("C:/Users/me/Documents/cv.docx", "/home/me/Documents/cv.docx")]
ALIAS = "--versions"
WORDS = "words"


def add_arguments(p):
    p.add_argument("words", nargs="*", metavar="PATH [TASK]",
                   help="a path in src (absolute, or relative to src), and the task when it is not the default "
                        "one (before or after the path)")


def run(config, args, program):
    if not args.words or len(args.words) > 2:
        raise UsageError("versions takes a path, and the task when it is not the default one: "
                         "backup_now.py versions Documents/cv.docx, or versions TASK Documents/cv.docx")
    from . import _restoring as restore_cli
    setup_logging(config.log, program)
    path, names = restore_cli.versions_words(config, args.words)
    return restore_cli.print_versions(config, path, names)
