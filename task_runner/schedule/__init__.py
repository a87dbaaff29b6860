"""When backups run: the plan (what is due, missed or retried, decided
from the history and ``now``), the daemon that carries it out, the drive
a ``dest`` waits for, the status view, and the start at logon. What a
``timestamp`` means is in ``config.timestamps``; local time in ``clock``.
"""
