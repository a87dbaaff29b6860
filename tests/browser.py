"""A headless Chromium driven over the DevTools protocol, standard library
only: ``--remote-debugging-pipe`` reads commands from the browser's file
descriptor 3 and writes answers and events to its descriptor 4, one JSON
message each, ended by a NUL byte."""

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium():
    """(path, None) of a Chromium to drive, or (None, why not)."""
    if sys.platform == "win32":
        return None, "the browser test runs on Linux (Debian's chromium); the Windows lane has no browser"
    wanted = os.environ.get("TASK_RUNNER_CHROMIUM")
    for name in ([wanted] if wanted else CANDIDATES):
        path = shutil.which(name)
        if path:
            return path, None
    return None, "no Chromium found (apt-get install chromium, or set TASK_RUNNER_CHROMIUM)"


_ON_3_AND_4 = ("import fcntl, os, sys\n"
               "high = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]\n"
               "os.dup2(high[0], 3)\n"
               "os.dup2(high[1], 4)\n"
               "os.execv(sys.argv[3], sys.argv[3:])\n")


class ProtocolError(Exception):
    pass


class Chromium(object):
    """One headless browser with one page attached (flat sessions)."""

    def __init__(self, path, profile, width=1200, height=900):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [path, "--headless", "--remote-debugging-pipe", "--user-data-dir=" + profile,
                "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-dev-shm-usage", "--disable-background-networking", "--disable-sync",
                "--window-size=%d,%d" % (width, height), "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        # A small Python puts our pipe ends on the browser's descriptors 3
        # and 4 (a shell's "3<&N" fails when N has two digits in dash).
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ON_3_AND_4, str(to_browser_r), str(from_browser_w)] + args,
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._answers = {}
        self.events = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                message = json.loads(raw.decode("utf-8"))
                with self._cond:
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._cond.notify_all()
        with self._cond:
            self._answers[None] = {"error": {"message": "the browser closed the pipe"}}
            self._cond.notify_all()

    def call(self, method, session=None, timeout=30, **params):
        with self._cond:
            self._next_id += 1
            wanted = self._next_id
        message = {"id": wanted, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while wanted not in self._answers and None not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProtocolError("no answer to %s within %d s" % (method, timeout))
                self._cond.wait(left)
            answer = self._answers.pop(wanted, None) or self._answers[None]
        if "error" in answer:
            raise ProtocolError("%s: %s" % (method, answer["error"].get("message")))
        return answer.get("result", {})

    def page(self, method, **params):
        """A command to the page."""
        return self.call(method, session=self.session, **params)

    def evaluate(self, expression):
        """The JSON value of a JavaScript expression in the page."""
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise ProtocolError("%s: %s" % (expression, result["exceptionDetails"].get("text")))
        return result["result"].get("value")

    def wait_for(self, expression, timeout=30, interval=0.1):
        """Evaluate ``expression`` until it is truthy; its value. Until
        then an exception in it (the page is still loading) counts as false."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value, last = self.evaluate(expression), None
            except ProtocolError as exc:
                value, last = None, exc
            if value:
                return value
            if time.monotonic() > deadline:
                raise ProtocolError("still false after %d s: %s (%s)" % (timeout, expression, last))
            time.sleep(interval)

    def page_events(self, *methods):
        with self._cond:
            return [e for e in self.events if e.get("method") in methods]

    def screenshot(self, path):
        data = self.page("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except (ProtocolError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
