"""One run of a task, however it was started (schedule, catch-up, retry,
backup_now, the HTTP trigger): the task's lock (locks), the record in the
history, the snapshot, retention, verify, the summary in the log, and the
notification of a failure or a recovery (notify).
"""
