"""Serve the status page (http://127.0.0.1:8765/ in a browser) and the HTTP
API, so a backup can be watched and started from anywhere. With no token
configured, the token is made at the first start and kept in http_token.txt
beside config.json, readable by this account only; each start prints a
one-time sign-in link for the page (--open opens it):

    python3 http_server.py [--config PATH] [--host HOST] [--port PORT] [--open]
    python3 http_server.py --new-token

    curl -X POST -H "Authorization: Bearer TOKEN" http://HOST:PORT/trigger
"""

import argparse
import errno
import os
import secrets
import ssl
import threading
import time

from . import cli
from .. import console
from ..config import edit as config_edit, load_config
from ..fs import osutil
from ..config.watch import ConfigWatcher
from ..errors import AlreadyRunning, ConfigError, UsageError
from ..http import tokenfile
from ..http.api import App, Server
from ..http.transport import is_loopback
from ..fs.locking import FileLock, write_holder
from ..logs import setup_logging
from ..clock import LOCAL, format_local
from ..runs.notify import Notifier
from ..offsite import service as offsite_service

PROGRAM = "http_server"
TOKEN_ENV = "TASK_RUNNER_TOKEN"
# The lockout answers at most max_connections wrong tokens a second: a token
# this long cannot be guessed so (docs/HTTP.md, "The lockout").
MIN_TOKEN_LENGTH = 20


def parser(script_file):
    """The program's options; ``script_file``: the entry script, beside
    which config.json is looked for."""
    intro, examples = __doc__.split("\n\n", 1)  # the examples after "...from anywhere:" go in the epilog
    p = argparse.ArgumentParser(prog="http_server.py", description=intro.rstrip(":") + ".",
                                epilog="examples:\n" + examples.rstrip(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_config_argument(p, script_file)
    p.add_argument("--host", help="address to listen on (overrides http.host; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (overrides http.port; default 8765)")
    p.add_argument("--new-token", action="store_true", help="print a new random token for http.token and exit")
    p.add_argument("--open", action="store_true", help="open the page's one-time sign-in link in a browser")
    p.add_argument("--open-first-start", action="store_true",
                   help="while config.json holds no backup of yours yet, open the page signed in on \"Add a backup\" "
                        "in the browser (http_server.bat passes it)")
    return p


def _tls_context(settings):
    if not settings.tls_cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if hasattr(ssl, "PROTOCOL_TLS_SERVER") \
        else ssl.SSLContext(ssl.PROTOCOL_TLSv1_2)
    try:
        ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("http.tls_cert / http.tls_key: cannot load %s: %s" % (settings.tls_cert, exc),
                          None)
    return ctx


def main(argv, script_file):
    args = parser(script_file).parse_args(argv)
    if args.new_token:
        console.print_safe(secrets.token_urlsafe(32))
        return 0
    config = load_config(args.config)
    settings = config.http
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    token = os.environ.get(TOKEN_ENV) or settings.token
    if not is_loopback(host) and not token:
        problem = ("%s is %s, which other machines can reach, but no token is set: run \"http_server.py "
                   "--new-token\" and put the result in http.token (or in the environment variable %s)"
                   % ("--host" if args.host else "http.host", host, TOKEN_ENV))
        if args.host:  # the command line's own value: not a problem of config.json
            raise UsageError(problem)
        raise ConfigError(problem, config.path)
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError("the token (%s) has %d characters; a token needs at least %d so that it cannot be "
                          "guessed: run \"http_server.py --new-token\" and use what it prints"
                          % ("environment variable " + TOKEN_ENV if os.environ.get(TOKEN_ENV) else "http.token",
                             len(token), MIN_TOKEN_LENGTH), config.path)
    if not 0 < port < 65536:  # (http.port is checked with config.json: this is --port's)
        raise UsageError("--port must be 1-65535, got %d" % port)
    setup_logging(config.log, PROGRAM)
    instance = FileLock(os.path.join(config.lock_dir, "http-%d.lock" % port))
    if not instance.acquire(timeout=0):
        raise AlreadyRunning("http_server.py is already serving port %d for %s: stop that one first"
                             % (port, config.path))
    try:
        token_file = None
        if not token:  # (loopback only, checked above) the token of the token file, made at the first start
            token_file = tokenfile.token_path(config)
            token, created = tokenfile.load_or_create(token_file, MIN_TOKEN_LENGTH)
            if created:
                cli.logger.info("made a token for the status page and the API in %s (readable by this "
                                "account only)", token_file)
        return _serve(config, settings, host, port, token, token_file, instance, args.open, args.open_first_start)
    finally:
        instance.release()


def _serve(config, settings, host, port, token, token_file, instance, open_link, open_first_start=False):
    stop = threading.Event()
    app = App(ConfigWatcher(config), stop, notifier=Notifier(config.notify))
    try:
        # open_trigger: without a configured token, POST /trigger of the default task stays open on loopback.
        server = Server((host, port), app, token=token, tls=_tls_context(settings), open_trigger=bool(token_file),
                        max_connections=settings.max_connections, request_timeout=settings.request_timeout)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES) or getattr(exc, "winerror", None) == 10048:
            raise AlreadyRunning("port %d on %s is already in use (another http_server.py?): stop it or "
                                 "choose another --port" % (port, host))
        raise ConfigError("cannot listen on %s:%d: %s" % (host, port, exc.strerror or exc), config.path)
    scheme = "https" if settings.tls_cert else "http"
    cli.logger.info("listening on %s://%s:%d (the token %s)", scheme, host, port,
                    "is in %s" % token_file if token_file else "of the configuration")
    # 0.0.0.0 / :: mean every interface: this computer's browser uses loopback.
    page_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else ("[%s]" % host if ":" in host else host)
    page = "%s://%s:%d/" % (scheme, page_host, port)
    cli.logger.info("the status page: open %s in a browser", page)
    # On the console only, never in the log: the link signs in once, within 15 minutes.
    link = "%ssignin?code=%s" % (page, server.sessions.new_code())
    console.print_safe("Sign in to the status page (once, within 15 minutes): %s" % link)
    note = config_edit.first_start_note(config.path, serving=True)
    if note:
        cli.logger.warning("%s", note)
        if open_first_start:
            open_link, link = True, link + "&then=add"  # signed in, on "Add a backup"
    write_holder(instance, {"program": "http_server", "pid": os.getpid(), "url": "%s://%s:%d" % (scheme, host, port),
                            "since": format_local(time.time(), LOCAL), "token_file": token_file})
    if open_link:
        console.open_secret_link(link)

    def on_stop(signum):
        stop.set()  # running backups stop and are recorded interrupted
        threading.Thread(target=server.shutdown, daemon=True).start()

    osutil.install_stop_handlers(on_stop)
    # As in the scheduler: the main thread stays free for Ctrl+C / Ctrl+Break.
    cli.run_in_thread(lambda: server.serve_forever(poll_interval=0.2), "http")
    server.server_close()
    for job in app.jobs:
        job.join(1.5)
    for thread in list(app.uploads):  # stopped by the same event: each records itself interrupted
        thread.join(offsite_service.STOP_WAIT)
    cli.logger.info("stopped")
    return 0

