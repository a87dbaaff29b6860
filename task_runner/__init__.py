"""The library behind scheduled_task_runner.py, backup_now.py and http_server.py."""

__version__ = "0.1.0"
