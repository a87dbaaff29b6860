"""The house has floors: each package of task_runner is one layer, and a
module imports only from its own layer or the ones below (issue 31). The
imports are read with ``ast``, those inside functions included (a
function-level import does not dodge the rule), and the modules' imports
make no circle. docs/DEVELOPMENT.md's map shows the same order."""

import ast
import json
import os
import re
import subprocess
import sys
import unittest

from tests.helpers import ROOT, TempDirTestCase

PACKAGE = "task_runner"
# Bottom to top. A layer is a package of task_runner, or a module beside
# the packages (the ground's errors, clock, console, logs).
LAYERS = [
    ("errors", "clock"),
    ("fs",),
    ("console", "logs"),
    ("config",),
    ("history",),
    ("snapshots",),
    ("engine",),
    ("restore",),
    ("runs",),
    ("offsite",),
    ("schedule",),
    ("http",),
    ("commands",),
]
FLOOR = {name: i for i, names in enumerate(LAYERS) for name in names}
ENTRY_SCRIPTS = ("backup_now.py", "scheduled_task_runner.py", "http_server.py")


def module_files(root=ROOT):
    """{dotted module name: path} of every module of the package."""
    found = {}
    for folder, dirs, files in os.walk(os.path.join(root, PACKAGE)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                found[dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


def imports_of(module, source, is_package, known):
    """The modules of the package that ``source`` (module ``module``)
    imports, anywhere in it: [(line, imported module)]. ``from X import
    name`` is an import of X.name when that is a module, else of X."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            submodules = [base + "." + alias.name for alias in node.names if base + "." + alias.name in known]
            found += [(node.lineno, name) for name in submodules]
            if len(submodules) < len(node.names):  # a name defined in ``base`` itself
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name in known and name != module]


def floor_of(module):
    """The layer of a module of the package (None for the package itself)."""
    parts = module.split(".")
    return FLOOR[parts[1]] if len(parts) > 1 else None


def upward_imports(modules):
    """Every import from a layer to a higher one: ["a.b:12 imports c (commands above config)"].
    ``modules``: {module: (source, is_package)}."""
    wrong = []
    for module, (source, is_package) in sorted(modules.items()):
        mine = floor_of(module)
        for line, name in imports_of(module, source, is_package, modules):
            theirs = floor_of(name)
            if mine is not None and theirs is not None and theirs > mine:
                wrong.append("%s:%d imports %s (%s is above %s)" % (
                    module, line, name, LAYERS[theirs][0], LAYERS[mine][0]))
    return wrong


def circles(modules):
    """The circles of imports among ``modules`` (each as a list of modules)."""
    graph = {m: sorted({n for _, n in imports_of(m, s, p, modules)}) for m, (s, p) in modules.items()}
    found, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for name in graph[module]:
            if state.get(name) == "open":
                found.append(path[path.index(name):] + [name])
            elif name not in state:
                visit(name, path + [name])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def read_modules(root=ROOT):
    out = {}
    for module, path in module_files(root).items():
        with open(path, encoding="utf-8") as f:
            out[module] = (f.read(), path.endswith("__init__.py"))
    return out


class LayerTest(unittest.TestCase):
    def setUp(self):
        self.modules = read_modules()

    def test_every_package_and_ground_module_has_a_floor(self):
        tops = {m.split(".")[1] for m in self.modules if "." in m}
        self.assertEqual(sorted(tops - set(FLOOR)), [], "give each new package a place in LAYERS")

    def test_nothing_imports_upward(self):
        self.assertEqual(upward_imports(self.modules), [])

    def test_no_circle_of_imports(self):
        self.assertEqual(circles(self.modules), [])

    def test_the_check_sees_an_upward_import_and_a_circle(self):
        """The two checks find what they are for, in a module-level and a
        function-level import, relative and absolute."""
        planted = dict(self.modules)
        planted["task_runner.fs.planted"] = ("def f():\n    from ..commands import cli\n", False)
        planted["task_runner.config.planted"] = ("import task_runner.http.api\n", False)
        planted["task_runner.runs.a"] = ("from . import b\n", False)
        planted["task_runner.runs.b"] = ("def g():\n    from .a import x\n", False)
        self.assertEqual([w for w in upward_imports(planted) if ".planted:" in w], [
            "task_runner.config.planted:1 imports task_runner.http.api (http is above config)",
            "task_runner.fs.planted:2 imports task_runner.commands.cli (commands is above fs)"])
        self.assertIn(["task_runner.runs.a", "task_runner.runs.b", "task_runner.runs.a"], circles(planted))

    def test_the_entry_scripts_import_only_commands_and_config(self):
        """The entry scripts stay thin: they dispatch to commands/."""
        for script in ENTRY_SCRIPTS:
            with open(os.path.join(ROOT, script), encoding="utf-8") as f:
                names = {n for _, n in imports_of("entry", f.read(), False, self.modules)}
            with self.subTest(script=script):
                self.assertEqual(sorted(n for n in names if n.split(".")[1:2] not in (["commands"], ["config"])), [])

    def test_the_map_in_development_md_lists_the_floors_top_to_bottom(self):
        with open(os.path.join(ROOT, "docs", "DEVELOPMENT.md"), encoding="utf-8") as f:
            text = f.read()
        block = text[text.index("<!-- floors -->"):text.index("<!-- /floors -->")]
        shown = []
        for line in block.splitlines():  # the first word of a line, or two: "console.py, logs.py"
            shown += [n for n in re.findall(r"^\s*([a-z_]+)(?:/|\.py)(?:,\s*([a-z_]+)\.py)?", line)[:1] for n in n if n]
        expected = [name for names in reversed(LAYERS) for name in names]
        self.assertEqual([n for n in shown if n in FLOOR], expected)


# Runs a program as python3 does (runpy) and writes the modules it loaded
# beyond those already there (this Python's start-up and its site-packages).
_LOADED = """
import json, os, runpy, sys
out, script = sys.argv[1], sys.argv[2]
sys.path[0] = os.path.dirname(os.path.abspath(script))  # as "python3 SCRIPT" has it
before = set(sys.modules)
sys.argv = sys.argv[2:]
code = 0
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as exc:
    code = exc.code
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(set(sys.modules) - before)}, f)
"""


def loaded_by(args, folder):
    """The modules a real run of ``args`` (a program and its words) loads:
    (exit code, set of module names). (-X importtime would say so too, but
    not on Python 3.6.)"""
    out = os.path.join(folder, "loaded.json")
    proc = subprocess.run([sys.executable, "-c", _LOADED, out] + args, cwd=folder, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    if not os.path.exists(out):
        raise AssertionError("the program did not end normally:\n" + proc.stdout + proc.stderr)
    with open(out, encoding="utf-8") as f:
        found = json.load(f)
    return found["code"], set(found["modules"])


class StartUpTest(TempDirTestCase):
    """A program loads what its job uses (bench/startup.py times it)."""

    def test_a_backup_without_offsite_loads_only_what_it_uses(self):
        config = self.make_config()
        self.write("src/a.txt", "a")
        code, names = loaded_by([os.path.join(ROOT, "backup_now.py"), "--config", config.path, "T"], self.tmp)
        self.assertEqual(code, 0)
        self.assertIn("task_runner.engine", names)  # the list is read: the backup's own floors are in it
        unused = sorted(n for n in names if n.split(".")[1:2] in (["offsite"], ["http"], ["restore"], ["schedule"])
                        or n in ("task_runner.commands._restoring", "task_runner.commands._guided", "zipfile",
                                 "difflib", "urllib.parse", "socket"))
        self.assertEqual(unused, [])

    def test_a_zip_task_loads_the_zip_writer(self):
        config = self.make_config([{"name": "Z", "src": "src", "dest": "dest", "timestamp": "1 23:56",
                                    "format": "zip"}])
        self.write("src/a.txt", "a")
        code, names = loaded_by([os.path.join(ROOT, "backup_now.py"), "--config", config.path, "Z"], self.tmp)
        self.assertEqual(code, 0)
        self.assertIn("task_runner.engine.zip_writer", names)


if __name__ == "__main__":
    unittest.main()
