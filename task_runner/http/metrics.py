"""GET /metrics: the status of every task in the Prometheus text format
(version 0.0.4), for the monitoring people already run.

Pure: a status report (schedule/status.py) and the history's runs in, the text out.
Every family has its HELP and TYPE lines; label values are escaped as the
format says (backslash, double quote, newline).
"""

from ..history.records import run_time

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("success", "partial", "failed", "interrupted", "skipped", "running")


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _labels(pairs):
    return "{%s}" % ",".join('%s="%s"' % (k, _escape(v)) for k, v in pairs) if pairs else ""


class _Families(object):
    def __init__(self):
        self.order, self.meta, self.samples = [], {}, {}

    def add(self, name, kind, text, labels, value):
        if value is None:
            return
        if name not in self.meta:
            self.order.append(name)
            self.meta[name] = (kind, text)
            self.samples[name] = []
        self.samples[name].append((labels, value))

    def render(self):
        out = []
        for name in self.order:
            kind, text = self.meta[name]
            out.append("# HELP %s %s" % (name, text))
            out.append("# TYPE %s %s" % (name, kind))
            for labels, value in self.samples[name]:
                out.append("%s%s %s" % (name, _labels(labels), _number(value)))
        return "\n".join(out) + "\n"


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def render(report, runs):
    """The /metrics text for ``report`` (status.current_report) and the
    history's ``runs``."""
    f = _Families()
    f.add("task_runner_scheduler_up", "gauge", "1 when the scheduler (scheduled_task_runner) is running.", [],
          bool(report["scheduler"]["running"]))
    for item in report["tasks"]:
        task = [("task", item["name"])]
        last, ok = item["last_run"], item["last_success"]
        started = run_time(last, "started") if last else None
        finished = run_time(last, "finished") if last else None
        f.add("task_runner_last_run_start_timestamp_seconds", "gauge",
              "When the last run of the task started (seconds since 1970).", task, started)
        f.add("task_runner_last_run_duration_seconds", "gauge", "How long the last finished run took.", task,
              finished - started if started is not None and finished is not None else None)
        if last is not None:
            for status in STATUSES:
                f.add("task_runner_last_run_status", "gauge",
                      "1 for the status of the last run of the task, 0 for the others.",
                      task + [("status", status)], last.get("status") == status)
        f.add("task_runner_last_success_timestamp_seconds", "gauge",
              "When the last successful (or partial) run of the task started; 0 when it never succeeded.", task,
              (run_time(ok, "started") or 0) if ok else 0)
        for key, text in (("files", "Files in the newest run's snapshot."),
                          ("bytes", "Bytes in the newest run's snapshot."),
                          ("bytes_copied", "Bytes the newest run actually copied.")):
            value = last.get(key) if last else None
            f.add("task_runner_last_run_%s" % key, "gauge", text, task,
                  value if isinstance(value, int) and not isinstance(value, bool) else None)
        f.add("task_runner_running", "gauge", "1 while a run of the task is in progress.", task,
              bool(item["running"]))
        retry = item.get("retry") or {}
        f.add("task_runner_current_attempts", "gauge",
              "Failed attempts of the task's newest scheduled time so far (0: none, or it succeeded).", task,
              retry.get("attempts", 0))
        f.add("task_runner_next_retry_timestamp_seconds", "gauge",
              "When the failing task is tried again (absent: it is not failing, or no retry is left).", task,
              run_time(retry, "next_try_at") if retry else None)
        f.add("task_runner_snapshots", "gauge", "Complete snapshots in the task's dest.", task, item["snapshots"])
        f.add("task_runner_destination_free_bytes", "gauge", "Free bytes on the drive of the task's dest.", task,
              item["free_bytes"])
        _offsite(f, task, item.get("offsite"))
        counts = {}
        for run in runs:
            if run.get("task") == item["name"] and run.get("status") in STATUSES:
                counts[run["status"]] = counts.get(run["status"], 0) + 1
        for status in STATUSES:
            f.add("task_runner_runs_total", "counter",
                  "Runs of the task in the history, by status (the history keeps history_limit runs a task).",
                  task + [("status", status)], counts.get(status, 0))
    return f.render()



UPLOAD_STATUSES = ("success", "failed", "interrupted", "running")


def _offsite(f, task, offsite):
    """The offsite families of one task (none without ``offsite``)."""
    if offsite is None:
        return
    ok, last = offsite["last_success"], offsite["last_upload"]
    f.add("task_runner_offsite_last_success_timestamp_seconds", "gauge",
          "When the last successful offsite upload of the task ended (seconds since 1970).", task,
          run_time(ok, "finished") if ok else None)
    f.add("task_runner_offsite_pending", "gauge",
          "1 when the newest local snapshot is not on the remote yet.", task, offsite["pending"] is not None)
    f.add("task_runner_offsite_uploading", "gauge", "1 while an offsite upload of the task runs.", task,
          bool(offsite["uploading"]))
    if last is not None:
        for status in UPLOAD_STATUSES:
            f.add("task_runner_offsite_last_upload_status", "gauge",
                  "1 for the status of the last offsite upload of the task, 0 for the others.",
                  task + [("status", status)], last.get("status") == status)
        value = last.get("bytes")
        f.add("task_runner_offsite_last_upload_bytes", "gauge", "Bytes the last offsite upload sent.", task,
              value if isinstance(value, int) and not isinstance(value, bool) else None)
