"""What executed_tasks.json may hold: its shape, checked before the
history is used (a hand-edited or damaged file is moved aside, see
history.History._load), so that no later step meets a wrong type."""

VERSION = 1


_TEXT_FIELDS = ("trigger", "scheduled_for", "started", "finished", "status", "snapshot", "message", "src", "dest")
_COUNT_FIELDS = ("files", "bytes", "copied", "linked", "moved", "symlinks", "bytes_copied", "skipped", "attempt")


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def shape_problem(doc):
    """Why ``doc`` is not a history this program can use (None when it is).
    Checked on every load, so a hand-edited file can never crash a run."""
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        return "not a JSON object with a list of runs"
    if doc.get("version", VERSION) != VERSION:
        return "version %r, this program reads version %d" % (doc.get("version"), VERSION)
    ids = set()
    for i, run in enumerate(doc["runs"]):
        if not isinstance(run, dict):
            return "runs[%d] is not an object" % i
        if not is_int(run.get("id")) or run["id"] in ids:
            return "runs[%d] has no whole-number id of its own" % i
        ids.add(run["id"])
        if not isinstance(run.get("task"), str):
            return "runs[%d].task is not text" % i
        for key in _TEXT_FIELDS:
            value = run.get(key)
            if value is not None and not isinstance(value, str):
                return "runs[%d].%s is not text" % (i, key)
        for key in _COUNT_FIELDS:
            value = run.get(key)
            if value is not None and value.__class__ is not int and not is_int(value):
                return "runs[%d].%s is not a whole number" % (i, key)
        seconds = run.get("seconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                    or not 0 <= seconds < float("inf")):
            return "runs[%d].seconds is not a number of seconds" % i
        if run.get("verify") is not None and not isinstance(run["verify"], dict):
            return "runs[%d].verify is not an object" % i
        for key in ("errors", "warnings", "deleted"):
            if run.get(key) is not None and not (isinstance(run[key], list)
                                                 and all(isinstance(v, str) for v in run[key])):
                return "runs[%d].%s is not a list of texts" % (i, key)
    tasks = doc.get("tasks", {})
    if not isinstance(tasks, dict) or not all(_first_seen_ok(v) for v in tasks.values()):
        return "tasks is not an object of {\"first_seen\": time or null} objects"
    return _uploads_problem(doc.get("uploads", []))


def _first_seen_ok(entry):
    return isinstance(entry, dict) and (entry.get("first_seen") is None or isinstance(entry["first_seen"], str))


_UPLOAD_TEXT = ("snapshot", "remote", "started", "finished", "status", "message", "error", "trigger", "watch")


def _uploads_problem(uploads):
    if not isinstance(uploads, list):
        return "uploads is not a list"
    for i, up in enumerate(uploads):
        if not isinstance(up, dict) or not is_int(up.get("id")) or not isinstance(up.get("task"), str):
            return "uploads[%d] is not an object with an id and a task" % i
        for key in _UPLOAD_TEXT:
            if up.get(key) is not None and not isinstance(up[key], str):
                return "uploads[%d].%s is not text" % (i, key)
        for key in ("bytes", "files", "server_side_bytes", "seconds"):
            value = up.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value < float("inf")):
                return "uploads[%d].%s is not a number" % (i, key)
        if up.get("progress") is not None and not isinstance(up["progress"], dict):
            return "uploads[%d].progress is not an object" % i
    return None
