"""The HTTP server's parts: the remote trigger, the status page and the
metrics, behind one gate.

* ``transport``: every request passes here (deadlines, the connection cap,
  Host and Origin checks, the security headers on every answer);
* ``auth``: who may ask (a token, or a session with its CSRF header) and
  the lockout; ``sessions``: the page's sessions;
* ``api``: the endpoints, each with its access level, and ``App``;
* ``files``: files back from a snapshot (browse, download, restore);
* ``page``: the page's files (``web/``); ``metrics``: the Prometheus text.
"""
