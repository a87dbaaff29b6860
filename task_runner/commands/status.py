"""scheduled_task_runner.py status: each task's state and what needs attention."""

import time

from . import cli
from .. import console
from ..console import human_bytes, plural
from ..clock import LOCAL
from ._times import recorded

NAME = "status"
SUMMARY = "show each task's state: last success, snapshots, free space, warnings; and the running programs"
EXAMPLES = ["status", "status --json"]
ALIAS = "--status"
WORDS = None


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(config, args, program):
    print_status(config, args.json)
    return 0


def print_status(config, as_json):
    from ..schedule.status import current_report
    report = current_report(config, time.time, LOCAL)
    if as_json:
        cli.print_json(report)
        return
    scheduler = report["scheduler"]
    if scheduler["running"]:
        console.print_safe("The scheduler is running (process %s, since %s)." % (
            scheduler.get("pid", "?"), recorded(scheduler.get("since"))))
    for server in report["http_servers"]:
        console.print_safe("The HTTP server is running at %s (process %s, since %s); its token is %s." % (
            server.get("url", "?"), server.get("pid", "?"), recorded(server.get("since")),
            "in " + server["token_file"] if server.get("token_file") else "http.token of config.json"))
    for warning in report["warnings"]:
        console.print_safe("! " + warning)
    for item in report["tasks"]:
        out = ["%s%s: %s%s%s" % (item["name"], " (default)" if item["default"] else "", item["schedule"],
                                 "  [paused]" if item["paused"] else "",
                                 "  [running now]" if item["running"] else "")]
        if item["next_run"]:
            out.append("  next run: %s" % recorded(item["next_run"]))
        last, ok = item["last_run"], item["last_success"]
        out.append("  last run: %s%s%s" % ("never" if last is None else "%s %s (%s)" % (
            recorded(last.get("started")), last.get("status"), last.get("trigger")),
            ", into the former destination %s" % item["last_run_elsewhere"] if item["last_run_elsewhere"] else "",
            _counts(last)))
        days = item["last_success_days_ago"]
        out.append("  last success: %s" % ("never" if ok is None else recorded(ok.get("started")) + (
            "" if days is None else " (%.1f days ago)" % days)) + (
            " (into %s)" % item["dest"] if ok is None and item["success_elsewhere"] else ""))
        retry = item["retry"]
        if retry:
            out.append("  failed %s, %s (%s for this scheduled time)" % (
                recorded(retry["last_attempt_at"]), "next try at once when the scheduler starts"
                if retry.get("at_scheduler_start") else "next try %s" % recorded(retry["next_try_at"])
                if retry["next_try_at"] else "no retry left", plural(retry["attempts"], "attempt")))
        out.append("  snapshots: %d%s" % (item["snapshots"], ", newest %s" % item["newest_snapshot"]
                                          if item["newest_snapshot"] else ""))
        if item["free_bytes"] is not None:
            out.append("  free on the destination drive: %s (%.0f%%)" % (human_bytes(item["free_bytes"]),
                                                                         item["free_percent"]))
        offsite = item.get("offsite")
        if offsite is not None:
            ok = offsite["last_success"]
            out.append("  offsite (%s): last copy %s%s%s" % (
                offsite["remote"], "never" if ok is None else "%s, %.1f days ago" % (
                    recorded(ok.get("finished")), offsite["last_success_days_ago"]),
                "; pending: %s" % offsite["pending"] if offsite["pending"] else "; nothing pending",
                _uploading(offsite)))
        out.extend("  ! " + w for w in item["warnings"])
        console.print_safe("\n".join(out))


def _uploading(offsite):
    if not offsite["uploading"]:
        return ""
    progress = offsite["last_upload"].get("progress") or {}
    if not isinstance(progress.get("totalBytes"), int):
        return "; uploading now"
    return "; uploading now (%s of %s)" % (human_bytes(progress.get("bytes") or 0), human_bytes(progress["totalBytes"]))


def _counts(run):
    """", 1200 files: 15 copied, 1165 linked, 20 moved" for a run that
    counted its files (the moved part only when some were)."""
    if run is None or not isinstance(run.get("files"), int) or not isinstance(run.get("copied"), int):
        return ""
    linked, moved, links = (run.get(k) if isinstance(run.get(k), int) else 0 for k in ("linked", "moved", "symlinks"))
    return ", %s: %s" % (plural(run["files"], "file"), console.how_made(run["copied"], linked, moved, links))
