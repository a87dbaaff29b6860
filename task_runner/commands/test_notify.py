"""backup_now.py test-notify: send a test message through every channel."""

from .. import console, errors
from ..logs import setup_logging

NAME = "test-notify"
SUMMARY = "send a test message through every configured notification channel"
EXAMPLES = ["test-notify"]
ALIAS = "--test-notify"


def run(config, args, program):
    from ..runs.notify import Notifier
    setup_logging(config.log, program)
    notifier = Notifier(config.notify)
    if not notifier.active:
        console.print_safe("no notification channel is configured (notify.webhook, notify.ping_url, "
                           "notify.email in config.json)")
        return errors.EXIT_USAGE
    results = notifier.send_test()
    for r in results:
        console.print_safe("%s: %s" % (r.channel, "sent" if r.ok else "FAILED: " + r.detail))
    return errors.EXIT_OK if all(r.ok for r in results) else errors.EXIT_FAILED
