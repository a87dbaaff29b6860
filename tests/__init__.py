import logging

# Library loggers stay quiet in tests unless a test asks (assertLogs).
logging.getLogger("task_runner").addHandler(logging.NullHandler())
