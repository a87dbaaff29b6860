"""What a restore says when it ends, for people: the same words whether
it restored from the backup drive or from the offsite copy."""

from .. import console


def summary_lines(task_name, result, source, dry_run):
    """The lines that end a restore of ``result`` (a RestoreResult) from
    ``source`` (words: a snapshot's name, or "the remote snapshot NAME"):
    first each path asked for whose case differs in the snapshot (Windows
    and macOS compare names so), with ``dry_run`` what it would do to each
    file, then the counts, then each file not restored."""
    lines = ["%s: %s is %s in this copy: restoring that" % (task_name, console.printable(asked),
                                                           console.printable(stored))
             for asked, stored in result.renamed]
    lines += ["  would %s %s" % (action, console.printable(what)) for action, what in result.actions] \
        if dry_run else []  # (a newline in a name is printed \x0a)
    lines.append("%s: %s %s (%s) from %s into %s%s%s%s" % (
        task_name, "would restore" if dry_run else "restored", console.plural(result.files, "file"),
        console.human_bytes(result.bytes), source, console.printable(result.target),
        "; %d replaced, %d kept aside as *.before-restore-*" % (result.replaced, result.kept_aside)
        if result.replaced else "",
        "; %d left as they were (the same size and time)" % result.unchanged if result.unchanged else "",
        "; %d not restored (see the log)" % result.error_count if result.error_count else ""))
    lines += ["  " + console.printable(line) for line in result.errors]
    return lines
