"""The status page's files: one HTML shell, one stylesheet, three scripts
(page.js: the status; files.js: files back from a snapshot; tasks.js: the
task editor).

They live in ``task_runner/http/web`` and are served as they are: the HTML holds
no data (the script fetches /status and the rest, and shows every value
with textContent, never as HTML), so nothing a user typed in config.json
can become markup or script. No external font, script or stylesheet: the
page works offline, and its Content-Security-Policy (transport.py)
allows only this server.
"""

import os

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")

# URL path -> (file in WEB, Content-Type)
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
    "/files.js": ("files.js", "text/javascript; charset=utf-8"),
    "/tasks.js": ("tasks.js", "text/javascript; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


def asset(path, folder=WEB):
    """(bytes, content type) of the page file served at ``path``, or None.
    Read at each request: the files are small, and an edited file shows at
    the next reload."""
    entry = ASSETS.get(path)
    if entry is None:
        return None
    with open(os.path.join(folder, entry[0]), "rb") as f:
        return f.read(), entry[1]
