"""The HTTP server's parts: the remote trigger, the status page and the
metrics, behind one gate.

* ``transport``: every request passes here (deadlines, Host and Origin
  checks, the security headers on every answer); ``streams``: reading
  against a deadline, answers of an exact length; ``slots``: connection
  slots per client and the head reader that lets the right token past a
  full server;
* ``auth``: who may ask (a token, or a session with its CSRF header) and
  the lockout; ``sessions``: the page's sessions and one-time sign-in
  links; ``tokenfile``: the token made when none is configured;
* ``api``: the endpoints, each with its access level, and ``App``;
* ``files``: files back from a snapshot (browse, download, restore);
* ``page``: the page's files (``web/``); ``metrics``: the Prometheus text.
"""
