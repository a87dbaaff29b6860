"""Load and validate config.json into immutable Config and Task values.

Every problem is collected and reported at once, each with its path and its
fix: ``tasks[1] (MD15).timestamp: day must be 1-31, got 32``. A new key is
one line in TASK_KEYS, TOP_KEYS or LOG_KEYS.
"""

import collections
import json
import os
import posixpath

from ..fs import osutil
from ..errors import ConfigError, UsageError
from ..fs.locking import lock_dir_beside
from .values import (LEVELS, REQUIRED, WEEK_MINUTES, Invalid, Key, Offsite, _bool, _bwlimit, _choice, _emails,
    _int_between, _keep, _name, _number_between, _parallel, _path, _patterns, _remote, _schedule, _shown, _string,
    _url)

CONFIG_NAME = "config.json"
LOG_NAME = "scheduled_task_runner.log"
HISTORY_NAME = "executed_tasks.json"


def _offsite(value, base):
    """The ``offsite`` key: a remote path, or an object with ``remote``,
    ``keep``, ``bwlimit`` and ``timeout_minutes``. Its ``keep`` is filled
    in from the task's by _load_tasks."""
    if isinstance(value, str):
        return Offsite(_remote(value, base), None, None, None)
    if not isinstance(value, dict):
        raise Invalid("must be an rclone remote path such as \"b2:my-bucket/Documents\", or an object "
                      "{\"remote\": \"b2:my-bucket/Documents\", \"keep\": ..., \"bwlimit\": \"4M\"}, got %s"
                      % _shown(value))
    problems = []
    values = _section(value, OFFSITE_SECTION, "", base, problems)
    if problems:
        raise Invalid("; ".join(p.lstrip(".: ") for p in problems))
    return Offsite(**values)



TASK_KEYS = collections.OrderedDict([
    ("name", Key(_name, None)),
    ("src", Key(_path, REQUIRED)),
    ("dest", Key(_path, REQUIRED)),
    ("timestamp", Key(_schedule, None, attr="schedule")),
    ("default", Key(_bool, False)),
    ("incremental", Key(_bool, True)),
    ("keep", Key(_keep, None)),
    ("exclude", Key(_patterns, ())),
    ("format", Key(_choice(("folder", "zip"), upper=False), "folder")),
    ("allow_empty", Key(_bool, False)),
    ("timeout_minutes", Key(_number_between(0, WEEK_MINUTES), None)),
    ("verify", Key(_bool, False)),
    ("priority", Key(_choice(("low", "normal"), upper=False), "low")),
    ("parallel", Key(_parallel, "auto")),
    ("enabled", Key(_bool, True)),
    ("when_connected", Key(_bool, False)),
    ("when_connected_hours", Key(_number_between(0, 24 * 366), 24)),
    ("offsite", Key(_offsite, None)),
])

OFFSITE_SECTION = collections.OrderedDict([
    ("remote", Key(_remote, REQUIRED)),
    ("keep", Key(_keep, None)),
    ("bwlimit", Key(_bwlimit, None)),
    ("timeout_minutes", Key(_number_between(0, WEEK_MINUTES), None)),
])

LOG_KEYS = collections.OrderedDict([
    ("file", Key(_path, None)),
    ("max_bytes", Key(_int_between(1024, 1 << 30), 1024 * 1024)),
    ("backup_count", Key(_int_between(0, 100), 5)),
    ("level", Key(_choice(LEVELS), "INFO")),
])

HTTP_KEYS = collections.OrderedDict([
    ("host", Key(_string, "127.0.0.1")),
    ("port", Key(_int_between(1, 65535), 8765)),
    ("token", Key(_string, None)),
    ("tls_cert", Key(_path, None)),
    ("tls_key", Key(_path, None)),
    ("max_connections", Key(_int_between(1, 1024), 32)),
    ("request_timeout", Key(_int_between(1, 3600), 10)),
])

EMAIL_KEYS = collections.OrderedDict([
    ("smtp_host", Key(_string, REQUIRED)),
    ("smtp_port", Key(_int_between(1, 65535), 587)),
    ("starttls", Key(_bool, True)),
    ("ssl", Key(_bool, False)),
    ("username", Key(_string, None)),
    ("password_env", Key(_string, None)),
    ("from", Key(_string, REQUIRED, attr="sender")),
    ("to", Key(_emails, REQUIRED)),
])

NOTIFY_KEYS = collections.OrderedDict([
    ("on", Key(_choice(("failure", "always"), upper=False), "failure")),
    ("partial_is_failure", Key(_bool, False)),
    ("webhook", Key(_url, None)),
    ("ping_url", Key(_url, None)),
    ("email", Key(None, None)),  # validated as a section of EMAIL_KEYS
    ("timeout", Key(_number_between(0, 300), 10)),
])

TOP_KEYS = collections.OrderedDict([
    ("tasks", Key(None, REQUIRED)),  # validated by _load_tasks
    ("missed_task_days", Key(_int_between(0, 3650), 5)),
    ("log", Key(None, {})),  # validated as a section of LOG_KEYS
    ("http", Key(None, {})),  # validated as a section of HTTP_KEYS
    ("notify", Key(None, {})),  # validated as a section of NOTIFY_KEYS
    ("history_file", Key(_path, None)),
    ("history_limit", Key(_int_between(1, 100000), 100)),
    ("retry_minutes", Key(_int_between(0, WEEK_MINUTES), 60)),
    ("rclone", Key(_path, None)),
])


def _attrs(keys):
    return [k.attr or name for name, k in keys.items()]


Task = collections.namedtuple("Task", _attrs(TASK_KEYS))
LogConfig = collections.namedtuple("LogConfig", _attrs(LOG_KEYS))
HttpConfig = collections.namedtuple("HttpConfig", _attrs(HTTP_KEYS))
NotifyConfig = collections.namedtuple("NotifyConfig", _attrs(NOTIFY_KEYS))
EmailConfig = collections.namedtuple("EmailConfig", _attrs(EMAIL_KEYS))
Config = collections.namedtuple(
    "Config", ["path", "folder", "lock_dir", "tasks"] + [a for a in _attrs(TOP_KEYS) if a != "tasks"])


def _section(obj, keys, where, base, problems):
    """Parse one JSON object against a key table; returns {attr: value}."""
    if not isinstance(obj, dict):
        problems.append("%s: must be an object {...}, got %s" % (where, _shown(obj)))
        return None
    out = {}
    for name in obj:
        if name.startswith("_") or name in keys:
            continue
        import difflib  # only for a key that is not one
        hint = difflib.get_close_matches(name, list(keys), n=1)
        problems.append("%s: unknown key \"%s\"%s" % (
            where, name, ": did you mean \"%s\"?" % hint[0] if hint
            else " (known keys: %s; keys starting with _ are comments)" % ", ".join(keys)))
    for name, key in keys.items():
        attr = key.attr or name
        if name not in obj:
            if key.default is REQUIRED:
                problems.append("%s: missing required key \"%s\"" % (where, name))
            out[attr] = None if key.default is REQUIRED else key.default
            continue
        if key.parse is None:
            out[attr] = obj[name]
            continue
        try:
            out[attr] = key.parse(obj[name], base)
        except Invalid as exc:
            problems.append("%s.%s: %s" % (where, name, exc))
            out[attr] = None
    return out


def _task_label(i, obj):
    name = obj.get("name") if isinstance(obj, dict) else None
    try:
        _name(name, None)
    except Invalid:  # not text, or text that must not be printed
        return "tasks[%d]" % i
    return "tasks[%d] (%s)" % (i, name)


def _load_tasks(raw, base, problems):
    if not isinstance(raw, list) or not raw:
        problems.append("tasks: must be a non-empty list of tasks "
                        "[{\"src\": ..., \"dest\": ..., \"timestamp\": ...}]")
        return []
    tasks, labels = [], []
    for i, obj in enumerate(raw):
        where = _task_label(i, obj)
        values = _section(obj, TASK_KEYS, where, base, problems)
        if values is None:
            continue
        if values["name"] is None and isinstance(obj.get("src"), str) and isinstance(obj.get("dest"), str):
            values["name"] = "%s -> %s" % (obj["src"].strip(), obj["dest"].strip())
        if values["offsite"] is not None and values["offsite"].keep is None:
            values["offsite"] = values["offsite"]._replace(keep=values["keep"])  # the remote keeps what dest keeps
        tasks.append(Task(**values))
        labels.append(where)
    _check_tasks(tasks, labels, problems)
    return tasks


def _check_tasks(tasks, labels, problems):
    """Names unique; no dest inside a src or src inside a dest; no shared dest, nor offsite remote."""
    seen_names, seen_dests, seen_remotes = {}, {}, {}
    for task, where in zip(tasks, labels):
        if task.name is not None:
            if task.name in seen_names:
                problems.append("%s.name: \"%s\" is already used by %s: task names must be unique"
                                % (where, task.name, seen_names[task.name]))
            seen_names.setdefault(task.name, where)
        if task.src is None or task.dest is None:
            continue
        src = osutil.path_key(os.path.realpath(task.src))
        dest = osutil.path_key(os.path.realpath(task.dest))
        if osutil.is_inside(dest, src):
            problems.append("%s.dest: %s is inside src %s: each backup would contain the previous "
                            "ones; choose a dest outside the source folder" % (where, task.dest, task.src))
        elif osutil.is_inside(src, dest):
            problems.append("%s.src: %s is inside dest %s: choose a source outside the backup folder"
                            % (where, task.src, task.dest))
        if dest in seen_dests:
            problems.append("%s.dest: %s is also the dest of %s: give each task its own dest folder"
                            % (where, task.dest, seen_dests[dest]))
        seen_dests.setdefault(dest, where)
        remote = _remote_key(task.offsite.remote) if task.offsite is not None else None
        if remote is not None and remote in seen_remotes:
            problems.append("%s.offsite: %s is also the offsite copy of %s: give each task a remote folder of "
                            "its own (retention on it would delete the other's copies)"
                            % (where, task.offsite.remote, seen_remotes[remote]))
        seen_remotes.setdefault(remote, where)


def _remote_key(remote):
    """``remote:path`` as one folder is written: "r:a//./b/" is "r:a/b" (a backslash too, on Windows only)."""
    name, _, path = remote.partition(":")
    if osutil.WINDOWS:
        path = path.replace("\\", "/")
    return name + ":" + posixpath.normpath("/" + path).lstrip("/")


def _read_json(path):
    return parse_json(read_config_bytes(path), path)


def read_config_bytes(path):
    """The bytes of config file ``path``; ConfigError when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError("config file not found: %s. Put config.json next to the program "
                          "(see the example in README.md) or pass --config PATH" % path, path)
    except OSError as exc:
        raise ConfigError("cannot read config file %s: %s" % (path, exc.strerror or exc), path)


def parse_json(data, path):
    """The JSON object held in ``data`` (the bytes of config file ``path``),
    keys in file order; ConfigError says where the text is wrong."""
    try:
        text = data.decode("utf-8-sig")  # Notepad may add a BOM
    except UnicodeDecodeError:
        raise ConfigError("%s is not UTF-8 text: save it again as UTF-8 "
                          "(Notepad: File > Save As > Encoding: UTF-8)" % path, path)

    def no_duplicates(pairs):
        obj = collections.OrderedDict()
        for key, value in pairs:
            if key in obj:
                duplicates.append(key)
            obj[key] = value
        return obj

    def no_constants(name):
        raise ConfigError("%s is not a number JSON allows: write a number such as 10" % name, path)

    duplicates = []
    try:
        data = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except RecursionError:
        raise ConfigError("the file is nested too deeply (lists or objects inside each other "
                          "thousands of times): it cannot be a config", path)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        msg = getattr(exc, "msg", str(exc))
        hint = ""
        pos = getattr(exc, "pos", None)
        if "escape" in msg:
            hint = (": write Windows paths with forward slashes (\"C:/data\") "
                    "or doubled backslashes (\"C:\\\\data\")")
        elif ("delimiter" in msg or "property name" in msg or "trailing comma" in msg  # 3.13 says so
              or (msg == "Expecting value" and pos is not None and text[pos:pos + 1] in ("]", "}"))):
            hint = ": check for a missing or extra comma or quote on this line or the one before"
        raise ConfigError("line %s, column %s: %s%s" % (line, col, msg, hint), path)
    if duplicates:
        raise ConfigError(["key \"%s\" appears twice in the same object: keep one" % k
                           for k in duplicates], path)
    if not isinstance(data, dict):
        raise ConfigError("the file must hold one object {\"tasks\": [...]}", path)
    return data


def load_config(path):
    """Read and validate ``path``. Raises ConfigError listing every problem."""
    path = os.path.abspath(path)
    return config_from_data(_read_json(path), path)


def config_from_data(data, path):
    """Validate ``data`` (the object parsed from config file ``path``, an
    absolute path) as load_config does; the page's task editor checks a
    change with it before writing."""
    folder = os.path.dirname(path)
    problems = []
    top = _section(data, TOP_KEYS, "config", folder, problems)
    tasks = _load_tasks(data.get("tasks"), folder, problems)
    log_values = _section(top["log"] or {}, LOG_KEYS, "log", folder, problems) or {}
    http_values = _section(top["http"] or {}, HTTP_KEYS, "http", folder, problems) or {}
    if http_values and bool(http_values["tls_cert"]) != bool(http_values["tls_key"]):
        problems.append("http: set both tls_cert and tls_key to serve HTTPS, or neither")
    notify_values = _section(top["notify"] or {}, NOTIFY_KEYS, "notify", folder, problems) or {}
    if notify_values.get("email") is not None:
        email = _section(notify_values["email"], EMAIL_KEYS, "notify.email", folder, problems)
        notify_values["email"] = EmailConfig(**email) if email else None
    if problems:
        raise ConfigError(problems, path)
    top.pop("tasks")
    top["notify"] = NotifyConfig(**notify_values)
    top["log"] = LogConfig(**log_values)
    top["http"] = HttpConfig(**http_values)
    if top["log"].file is None:
        top["log"] = top["log"]._replace(file=os.path.join(folder, LOG_NAME))
    if top["history_file"] is None:
        top["history_file"] = os.path.join(folder, HISTORY_NAME)
    _check_writable_file(top["log"].file, "log.file", LOG_NAME, problems)
    _check_writable_file(top["history_file"], "history_file", HISTORY_NAME, problems)
    if problems:
        raise ConfigError(problems, path)
    lock_dir = lock_dir_beside(top["history_file"])
    return Config(path=path, folder=folder, lock_dir=lock_dir, tasks=tuple(tasks), **top)


def _check_writable_file(path, key, name, problems):
    """A file the programs will write (log, history) must be a file in a
    folder that exists. Its folder is created when only that one level is
    missing, as for ``dest``: a missing drive is reported, not made up."""
    if os.path.isdir(path):
        problems.append("%s: %s is a folder: name a file in it, such as %s"
                        % (key, path, os.path.join(path, name)))
        return
    folder = os.path.dirname(path)
    if os.path.isdir(folder):
        if not os.access(folder, os.W_OK):
            problems.append("%s: the folder %s cannot be written to: choose another place" % (key, folder))
        return
    if not os.path.isdir(os.path.dirname(folder)):
        problems.append("%s: the folder %s does not exist (is its drive connected?): create it, "
                        "or choose another place" % (key, folder))
        return
    try:
        os.mkdir(folder)
    except OSError as exc:
        problems.append("%s: cannot create the folder %s: %s" % (key, folder, exc.strerror or exc))


def find_task(config, name):
    """The task called ``name``: the one of exactly that name, else the
    only one whose name differs in case alone; None when there is none.
    The one rule for every program and the HTTP API."""
    for task in config.tasks:
        if task.name == name:
            return task
    folded = [t for t in config.tasks if t.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def select_tasks(config, names=(), run_all=False):
    """The tasks a command line asks for, in config order.

    No names: the default tasks (all with --all). UsageError names the tasks
    that could be run when a name is unknown or there is no default.
    """
    every = ", ".join('"%s"' % t.name for t in config.tasks)
    if run_all:
        return list(config.tasks)
    if not names:
        chosen = [t for t in config.tasks if t.default]
        if not chosen:
            raise UsageError("no task has \"default\": true in %s. Name the task to run "
                             "(one of: %s), pass --all, or mark one as default" % (config.path, every))
        active = [t for t in chosen if t.enabled]
        if not active:
            raise UsageError("the default task%s %s %s paused (\"enabled\": false): name it to run it anyway"
                             % ("s" if len(chosen) > 1 else "", ", ".join('"%s"' % t.name for t in chosen),
                                "are" if len(chosen) > 1 else "is"))
        return active
    wanted = set()
    for name in names:
        task = find_task(config, name)
        if task is None:
            import difflib  # only for a task that is not one
            hint = difflib.get_close_matches(name, [t.name for t in config.tasks], n=1)
            raise UsageError("no task named \"%s\"%s. Tasks: %s" % (
                name, " (did you mean \"%s\"?)" % hint[0] if hint else "", every))
        wanted.add(task.name)
    return [t for t in config.tasks if t.name in wanted]
