"""Changing config.json's tasks from the status page: add, change or delete
one task, checked with the very checks of ``check`` and written atomically.

Decide, then act: ``apply_change`` is pure (the parsed file and a change
-> the new file's object, or the problems ``check`` would list);
``save_change`` does the I/O: it re-reads the file, refuses when it is no
longer the version the page loaded (a hand edit made meanwhile is never
overwritten), writes a temporary file beside it, keeps the previous file as
``config.json.bak`` and renames the new one into place. The scheduler and
the HTTP server notice the change as they notice a hand edit
(config.watch). Keys the page does not know, in a task or at the top, are
kept as they are.
"""

import collections
import copy
import hashlib
import json
import os
import re
import tempfile

from ..fs import osutil
from . import _task_label, config_from_data, parse_json, read_config_bytes
from ..errors import ConfigError

# The task keys the page edits; every other key of a task is kept as it is.
PAGE_KEYS = ("name", "src", "dest", "timestamp", "keep", "exclude", "offsite")
# "tasks[2] (Photos).dest: ..." or "tasks[2] (Photos): missing required key "src""
_KEY_RE = re.compile(r'^tasks\[[0-9]+\](?: \(.*?\))?(?:\.([a-z_]+)|: missing required key "([a-z_]+)")')
EXAMPLE_KEY = "_example"
EXAMPLE_NOTE = "an example: edit or delete it (http_server.bat opens the page that does it)"


class Loaded(collections.namedtuple("Loaded", "data version")):
    """config.json as read: its object (keys in file order) and its version
    (the SHA-256 of its bytes), which a change must name."""


class Conflict(ConfigError):
    """config.json changed since the version a change was made against."""


def version_of(data):
    return hashlib.sha256(data).hexdigest()


def load_raw(path):
    """config.json as it is on disk, parsed but not checked: a Loaded."""
    data = read_config_bytes(path)
    return Loaded(parse_json(data, path), version_of(data))


# The tasks of the sample config.json before it had an example task: a
# file that still holds exactly these was never set up either.
OLD_SAMPLE = [("MD1", "C:/source_directory", "C:/backup_directory"),
              ("MD15", "C:/source_directory2", "C:/backup_directory2"),
              ("Default Task", "C:/default_src", "C:/default_dest")]


def is_first_start(data):
    """True when the file holds no task, or only examples (tasks marked
    ``"_example"``, as the sample config.json's is), or the old sample's."""
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        return False
    if [(t.get("name"), t.get("src"), t.get("dest")) for t in tasks] == OLD_SAMPLE:
        return True
    return all(is_example(t) for t in tasks)


SAMPLE = {"name": "Example", "src": "~/Documents", "dest": "~/Backups/Documents"}


def is_example(task):
    """True for the sample's example task as shipped: marked ``"_example"``
    and its name, src and dest unchanged. One edited by hand (the mark
    left in) is the user's own backup."""
    return EXAMPLE_KEY in task and all(task.get(k) == v for k, v in SAMPLE.items())


def first_start_note(path, serving=False):
    """The one line the programs print while config.json holds no backup
    of the user's own yet; None once it does (or when it cannot be read).
    ``serving``: said by the server whose page does it."""
    try:
        first = is_first_start(load_raw(path).data)
    except ConfigError:
        return None
    if not first:
        return None
    if serving:
        return "%s holds no backup of yours yet, only the example: add one on this page (Add a backup)" % path
    return ("%s holds no backup of yours yet, only the example: add one on the status page (double-click "
            "http_server.bat; it opens the page on \"Add a backup\") or in config.json" % path)


def example_names(data):
    """The names of the tasks marked as examples."""
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return [t.get("name") for t in (tasks if isinstance(tasks, list) else [])
            if isinstance(t, dict) and is_example(t)]


def merged_task(old, given):
    """The task object ``given`` (page keys only) laid over ``old`` (None for
    a new task): a key given as None is removed, a key not given is kept,
    every key the page does not know stays. An offsite given as a remote
    path keeps the other settings of an offsite object. Editing a task
    makes it the user's own: its example mark goes."""
    out = collections.OrderedDict(old or ())
    out.pop(EXAMPLE_KEY, None)
    for key in PAGE_KEYS:
        if key not in given:
            continue
        value = given[key]
        if value is None or value == "" or value == []:
            out.pop(key, None)
        elif key == "offsite" and isinstance(value, str) and isinstance(out.get("offsite"), dict):
            out["offsite"] = collections.OrderedDict(out["offsite"], remote=value)
        else:
            out[key] = value
    return out


def check_given(given):
    """Problems with the shape of a change's ``task`` (before any check of
    its values): unknown keys are refused by name."""
    if not isinstance(given, dict):
        return ["send the task as an object {\"name\": ..., \"src\": ..., \"dest\": ...}"]
    unknown = sorted(set(given) - set(PAGE_KEYS))
    if unknown:
        return ["the page edits only %s; \"%s\" is to be edited in config.json itself"
                % (", ".join(PAGE_KEYS), "\", \"".join(unknown))]
    return []


def apply_change(data, path, index, given):
    """The file's new object and its problems: (new_data, index, problems,
    the Config it makes: None when there are problems).

    ``index`` is the task to change (None: add ``given`` at the end; at
    the first start, in place of the example);
    ``given`` None deletes it. ``problems`` are check's messages, each as
    {"field": key or None, "message": text}; empty when the result is a
    valid config."""
    new = copy.deepcopy(data)
    tasks = new.get("tasks")
    if not isinstance(tasks, list):
        tasks = new["tasks"] = []
    if index is not None and not 0 <= index < len(tasks):
        return new, index, [{"field": None, "message": "there is no task number %d (the file has %d): reload the "
                                                       "page" % (index, len(tasks))}], None
    if given is None:
        del tasks[index]
        if not tasks:
            return new, None, [{"field": None, "message": "this is the only task: config.json needs one at "
                                                          "least. Add another backup first, then delete this one"}], None
        index = None
    else:
        task = merged_task(None if index is None else tasks[index], given)
        if index is None:
            if is_first_start(new):  # the first backup of the user's own takes the example's place
                del tasks[:]
            tasks.append(task)
            index = len(tasks) - 1
        else:
            tasks[index] = task
    try:
        config = config_from_data(new, path)
    except ConfigError as exc:
        label = None if index is None else _task_label(index, tasks[index])
        return new, index, [_problem(p, label) for p in exc.problems], None
    return new, index, [], config


def _problem(text, label):
    """check's message ``text`` as {"field", "message"}: the field is the
    key of the edited task (labelled ``label``) the message is about: a
    message of that task, or of another task that names it ("is already
    used by tasks[0] (Photos)")."""
    field = None
    if label is not None and (text.startswith(label) or label in text):
        found = _KEY_RE.match(text)
        if found:
            field = found.group(1) or found.group(2)
    return {"field": field if field in PAGE_KEYS else None, "message": text}


def dumps(data):
    """The text written to config.json: indented, non-ASCII as it is."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def shown_name(task):
    """What the page calls a task: its name, or "SRC -> DEST" without one."""
    return task.get("name") or "%s -> %s" % (task.get("src"), task.get("dest"))


def save_change(path, version, index, given, lock, name=None):
    """Check and write one change made against ``version`` of ``path``,
    holding ``lock`` (one writer at a time in this process); ``name``: the
    name task ``index`` had when the change was made (a task is never
    taken for another one that took its place).

    Returns (Loaded of the new file, problems); when there are problems
    nothing is written. Raises Conflict (with the current Loaded as
    ``current``) when the file is not ``version`` any more, or task
    ``index`` is not ``name``."""
    with lock:
        raw = read_config_bytes(path)
        current = Loaded(parse_json(raw, path), version_of(raw))
        tasks = current.data.get("tasks") if isinstance(current.data, dict) else None
        moved = name is not None and index is not None and not (
            isinstance(tasks, list) and 0 <= index < len(tasks) and isinstance(tasks[index], dict)
            and shown_name(tasks[index]) == name)
        if current.version != version or moved:
            exc = Conflict("config.json was changed (by hand or from another page) since this page loaded it: "
                           "it is reloaded; check your change and save it again", path)
            exc.current = current
            raise exc
        new, _, problems, _ = apply_change(current.data, path, index, given)
        if problems:
            return current, problems
        text = dumps(new).encode("utf-8")
        write_atomically(path, text, backup=raw)  # the very file the change was checked against
        return Loaded(new, version_of(text)), []


def write_atomically(path, data, backup=None):
    """``data`` into ``path`` through a temporary file in its folder and a
    rename, so that a reader sees the old file or the new one, never half
    of one; ``backup`` (the old bytes) is first put in ``path.bak`` the same way.
    A ``path`` that is a link is written where it leads (the link stays),
    and the file keeps its mode (and, as root, its owner)."""
    path = os.path.realpath(path)
    if backup is not None:
        _replace(path + ".bak", backup, path)
    _replace(path, data, path)


def _same_access(fd, like):
    """The new file ``fd`` gets the mode of file ``like`` (and its owner when
    this account may give it): a config.json shared with a group stays so."""
    try:
        st = os.stat(like)
    except OSError:
        return
    if hasattr(os, "fchown") and not osutil.WINDOWS and os.geteuid() == 0:
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:
            pass
    if hasattr(os, "fchmod"):
        os.fchmod(fd, st.st_mode & 0o7777)


def _replace(path, data, like):
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".tmp", dir=folder)
    try:
        _same_access(fd, like)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        osutil.replace_file(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
