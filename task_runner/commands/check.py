"""scheduled_task_runner.py check: validate the config and print the tasks."""

import os

from ..config import edit as config_edit
from .. import console, errors
from ..fs import osutil, private_folder

NAME = "check"
SUMMARY = "check config.json, print the tasks, and warn about a source or backup drive not there right now"
EXAMPLES = ["check", "check --config " + osutil.example_path("D:/backup/config.json", "~/backup/config.json")]
ALIAS = "--check"


def run(config, args, program):
    problems = []
    if any(task.offsite for task in config.tasks):  # a config without offsite loads nothing of it
        from ..offsite import cli as offsite_cli
        problems = offsite_cli.check_problems(config)  # rclone and its remotes, never contacted
    print_check(config, problems)
    for line in problems:
        console.print_safe("  ! " + line)
    return errors.EXIT_USAGE if problems else 0


def _shown_remote(task):
    from ..offsite import service
    return service.shown_remote(task)


def print_check(config, problems=()):
    """The heading says "is valid" only when nothing below is an error."""
    if problems:
        console.print_safe("%s has %d problem%s (listed below): %d task(s)" % (
            config.path, len(problems), "" if len(problems) == 1 else "s", len(config.tasks)))
    else:
        console.print_safe("%s is valid: %d task(s)" % (config.path, len(config.tasks)))
    examples = set(config_edit.example_names(config_edit.load_raw(config.path).data))
    for task in config.tasks:
        what = task.schedule.describe() if task.schedule else "only when started by hand"
        console.print_safe("  %s%s: %s -> %s, %s%s%s" % (
            task.name, " (default)" if task.default else "", task.src, task.dest, what,
            "" if task.enabled else " (paused)", ", offsite to %s" % _shown_remote(task)
            if task.offsite else ""))
        if task.name in examples:  # the sample's: its folders need not exist
            console.print_safe("    %s" % config_edit.EXAMPLE_NOTE)
            continue
        if not os.path.isdir(task.src):
            # A warning, not an error: the drive may be unplugged just now.
            console.print_safe("    ! the source folder %s does not exist right now: is its drive connected?"
                               % task.src)
        parent = os.path.dirname(os.path.normpath(task.dest))
        if not os.path.isdir(task.dest) and not os.path.isdir(parent):
            # A run makes dest when only that one level is missing, never a missing drive.
            console.print_safe("    ! the backup folder %s cannot be made: %s does not exist right now (is its "
                               "drive connected?)" % (task.dest, parent))
        else:
            for line in private_folder.open_warning(task.dest, config.lock_dir):
                console.print_safe("    ! " + line)
