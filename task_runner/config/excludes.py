"""Pure: exclude patterns (the task key ``exclude``).

* A pattern without ``/`` matches a file or folder name at any depth:
  ``*.tmp``, ``Thumbs.db``, ``node_modules``.
* A pattern with ``/`` matches the path relative to ``src``: ``build/*.o``,
  ``cache/**``. ``*`` and ``?`` stop at ``/``; ``**`` crosses it. A pattern
  ending in ``/**`` also matches the folder itself, so it is not walked.
* A trailing ``/`` matches folders only: ``logs/``.
* Matching ignores case on Windows.
"""

import re

from ..fs import osutil


class PatternError(ValueError):
    pass


def _translate(pattern):
    """A glob with /-aware wildcards as a regular expression."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern[i:i + 2] == "**":
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            # As fnmatch: "!" first negates, and a "]" right after "[" or
            # "[!" is a member, not the end.
            j = i + 1
            if pattern[j:j + 1] == "!":
                j += 1
            if pattern[j:j + 1] == "]":
                j += 1
            end = pattern.find("]", j)
            if end < 0:
                raise PatternError("unclosed [ in %r" % pattern)
            body = pattern[i + 1:end]  # no backslash: Matcher made them "/"
            if body.startswith("!"):
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body  # a literal ^, not a negation
            out.append("[" + body + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class Matcher(object):
    """Decides whether a relative path (``/``-separated) is excluded."""

    def __init__(self, patterns, ignore_case=osutil.WINDOWS):
        self.patterns = list(patterns)
        flags = re.IGNORECASE if ignore_case else 0
        self._names, self._paths = [], []
        for raw in self.patterns:
            if not isinstance(raw, str) or not raw.strip().strip("/"):
                raise PatternError("each pattern must be a non-empty string, got %r" % (raw,))
            pattern = raw.strip().replace("\\", "/")
            dirs_only = pattern.endswith("/")
            pattern = pattern.rstrip("/").lstrip("/")
            if pattern.endswith("/**"):
                regex = "%s(?:/.*)?" % _translate(pattern[:-3])
            else:
                regex = _translate(pattern)
            compiled = re.compile(r"\A(?:%s)\Z" % regex, flags)
            anchored = "/" in pattern or raw.strip().startswith("/")
            (self._paths if anchored else self._names).append((compiled, dirs_only))

    def __bool__(self):
        return bool(self._names or self._paths)

    def excluded(self, rel, name, is_dir):
        for regex, dirs_only in self._names:
            if (is_dir or not dirs_only) and regex.match(name):
                return True
        for regex, dirs_only in self._paths:
            if (is_dir or not dirs_only) and regex.match(rel):
                return True
        return False
