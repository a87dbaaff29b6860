"""Start the scheduler at logon: --install-startup / --uninstall-startup.

Windows: a small .pyw file in the user's Startup folder; Windows opens .pyw
files with pythonw, so the scheduler runs without a console window. Linux:
nothing is written; the text of a systemd user unit and the commands to
enable it are returned for the user to follow.
"""

import os
import sys

from ..fs import osutil

LAUNCHER_NAME = "Scheduled Task Runner.pyw"

_LAUNCHER = '''# Started at logon from the Startup folder (Windows opens .pyw files with
# pythonw: no console window). Made by scheduled_task_runner.py
# --install-startup; remove it with --uninstall-startup.
import os, runpy, sys
script = {script!r}
sys.path.insert(0, os.path.dirname(script))
sys.argv = [script, "--config", {config!r}]
runpy.run_path(script, run_name="__main__")
'''

_UNIT = '''[Unit]
Description=Scheduled Task Runner (backups of {about})

[Service]
ExecStart={python} {script} --config {config}
Restart=on-failure
KillSignal=SIGTERM
TimeoutStopSec=10

[Install]
WantedBy=default.target
'''


def startup_folder(environ=None):
    environ = os.environ if environ is None else environ
    return os.path.join(environ.get("APPDATA", ""), "Microsoft", "Windows", "Start Menu", "Programs", "Startup")


def _unit_path(environ):
    home = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME", "~"), ".config")
    return os.path.join(home, "systemd", "user", "scheduled-task-runner.service")


def install(script, config_path, environ=None, python=sys.executable, windows=osutil.WINDOWS):
    """Install the logon launcher; returns what to tell the user. Safe to
    run twice."""
    environ = os.environ if environ is None else environ
    if windows:
        folder = startup_folder(environ)
        if not os.path.isdir(folder):
            raise OSError("the Startup folder %s does not exist" % folder)
        path = os.path.join(folder, LAUNCHER_NAME)
        text = _LAUNCHER.format(script=os.path.abspath(script), config=os.path.abspath(config_path))
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    return "already installed: %s" % path
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return ("installed %s: the scheduler starts, without a window, when you log on. "
                "Check scheduled_task_runner.log to see it working." % path)
    config = os.path.abspath(config_path)
    unit = _UNIT.format(python=_exec_word(python), script=_exec_word(os.path.abspath(script)),
                        config=_exec_word(config), about=config.replace("%", "%%"))
    path = _unit_path(environ)
    return ("To start the scheduler at logon with systemd, save this as %s:\n\n%s\nthen run:\n\n"
            "  systemctl --user daemon-reload\n"
            "  systemctl --user enable --now scheduled-task-runner\n"
            "  loginctl enable-linger $USER    # keep it running when you are logged out\n"
            % (path, unit))


def _exec_word(text):
    """``text`` as one word of a systemd ExecStart= line: quoted (with \\
    and \" escaped) unless it is plain, and % and $ doubled, which systemd
    would otherwise expand (%h: the home folder; $X: a variable)."""
    if any(not (c.isalnum() or c in "/._+-:=@,") for c in text):
        text = '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("%", "%%").replace("$", "$$")


def uninstall(environ=None, windows=osutil.WINDOWS):
    environ = os.environ if environ is None else environ
    if windows:
        path = os.path.join(startup_folder(environ), LAUNCHER_NAME)
        if not os.path.exists(path):
            return "not installed (no %s)" % path
        os.remove(path)
        return "removed %s" % path
    return ("To stop starting it at logon:\n\n"
            "  systemctl --user disable --now scheduled-task-runner\n"
            "  rm %s\n" % _unit_path(environ))
