#!/usr/bin/env python3
"""Mutation testing of the decision modules: which small changes to the code
the tests would let through.

    python3 dev/mutation.py [--only plan,schedule] [--venv DIR]

A development tool, not a dependency: it makes a virtual environment
outside the project (default ~/.cache/task_runner_mutmut) with mutmut 2.5.1,
copies the tracked files to a temporary folder, and runs mutmut there on
each target below with the tests that cover it. A survivor is then run
against the other tests that use these modules (LAST_CHANCE: the whole
suite but its slow process, socket and stress tests), as a last chance to
be killed. Prints one row per
target (mutants, killed, survived, score) and each survivor's diff; the
table goes into docs/DEVELOPMENT.md with why each survivor left is
equivalent.
"""

import argparse
import ast
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (file, functions to mutate (None: the whole file), the tests that cover it)
TARGETS = {
    "schedule": ("task_runner/schedule/__init__.py", None, ["tests.test_schedule"]),
    "plan": ("task_runner/schedule/plan.py", None, ["tests.test_plan"]),
    "retention": ("task_runner/retention.py", None, ["tests.test_retention"]),
    "excludes": ("task_runner/excludes.py", None, ["tests.test_excludes"]),
    "unchanged": ("task_runner/engine/fileio.py", ["kept_mode", "unchanged"],
                  ["tests.test_integrity.UnchangedTest", "tests.test_engine.IncrementalTest"]),
}


LAST_CHANCE = ["tests.test_schedule", "tests.test_plan", "tests.test_retention", "tests.test_excludes",
               "tests.test_integrity", "tests.test_engine", "tests.test_daemon", "tests.test_config",
               "tests.test_restore", "tests.test_runner", "tests.test_priority"]


def venv_python(venv):
    python = os.path.join(venv, "Scripts" if os.name == "nt" else "bin", "python")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        subprocess.check_call([python, "-m", "pip", "install", "--quiet", "mutmut[patch]==2.5.1"])
    return python


def copy_tree(target):
    files = subprocess.check_output(["git", "ls-files"], cwd=ROOT, universal_newlines=True).split()
    for name in files:
        dest = os.path.join(target, name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), dest)


def function_patch(work, path, functions):
    """A patch that marks only ``functions`` of ``path`` as new, for
    mutmut --use-patch-file (it mutates the added lines only)."""
    with open(os.path.join(work, path)) as f:
        text = f.read()
    lines = text.splitlines()
    hunks = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name in functions:
            end = max(getattr(n, "lineno", node.lineno) for n in ast.walk(node))
            body = lines[node.lineno - 1:end]
            hunks.append("@@ -%d,0 +%d,%d @@\n%s\n" % (node.lineno - 1, node.lineno, len(body),
                                                    "\n".join("+" + line for line in body)))
    patch = os.path.join(work, "functions.patch")
    with open(patch, "w") as f:
        f.write("--- %s\n+++ %s\n%s" % (path, path, "".join(hunks)))
    return patch


def mutmut(python, work, args):
    return subprocess.run([python, "-m", "mutmut"] + args, cwd=work, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)


def run_target(python, work, name):
    path, functions, tests = TARGETS[name]
    cache = os.path.join(work, ".mutmut-cache")
    if os.path.exists(cache):
        os.remove(cache)
    # -B, and no __pycache__ left: a mutant written in the same second as
    # the original, with the same size, would otherwise run the original's
    # cached bytecode and "survive".
    for folder, dirs, _ in os.walk(work):
        if "__pycache__" in dirs:
            shutil.rmtree(os.path.join(folder, "__pycache__"))
    args = ["run", "--paths-to-mutate", path, "--tests-dir", "tests", "--no-progress",
            "--runner", "%s -B -m unittest -q %s" % (python, " ".join(tests))]
    if functions:
        args += ["--use-patch-file", function_patch(work, path, functions)]
    run = mutmut(python, work, args)
    if not os.path.exists(cache):
        sys.exit("mutmut did not run for %s:\n%s" % (name, run.stdout[-2000:]))
    db = sqlite3.connect(cache)
    rows = db.execute("SELECT id, status FROM Mutant").fetchall()
    db.close()
    survivors = []
    for mutant_id, status in rows:
        # Killed, killed slowly ("suspicious") and hanging ("timeout": the
        # suite would never pass) all count as killed.
        if status in ("ok_killed", "ok_suspicious", "bad_timeout"):
            continue
        # A last chance against the whole suite.
        mutmut(python, work, ["apply", str(mutant_id)])
        whole = subprocess.run([python, "-B", "-m", "unittest", "-q"] + LAST_CHANCE, cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.check_call(["git", "checkout", "-q", "--", path], cwd=work)
        if whole.returncode == 0:
            survivors.append((mutant_id, mutmut(python, work, ["show", str(mutant_id)]).stdout))
    return len(rows), survivors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="comma-separated targets (default: all): " + ", ".join(TARGETS))
    p.add_argument("--venv", default=os.path.join(os.path.expanduser("~"), ".cache", "task_runner_mutmut"))
    args = p.parse_args(argv)
    python = venv_python(args.venv)
    names = args.only.split(",") if args.only else list(TARGETS)
    work = tempfile.mkdtemp(prefix="task_runner_mutation_")
    try:
        copy_tree(work)
        subprocess.check_call(["git", "init", "-q"], cwd=work)
        subprocess.check_call(["git", "add", "-A"], cwd=work)
        subprocess.check_call(["git", "-c", "user.name=m", "-c", "user.email=m@m", "commit", "-qm", "base"],
                              cwd=work)
        table = []
        for name in names:
            total, survivors = run_target(python, work, name)
            table.append((name, total, survivors))
            print("%s: %d mutants, %d survived" % (name, total, len(survivors)), flush=True)
        print("\n| target | mutants | killed | survived | killed % |\n| --- | --- | --- | --- | --- |")
        for name, total, survivors in table:
            killed = total - len(survivors)
            print("| %s | %d | %d | %d | %.0f%% |" % (name, total, killed, len(survivors),
                                                    100.0 * killed / total if total else 100))
        for name, total, survivors in table:
            for mutant_id, diff in survivors:
                print("\n--- %s, mutant %s\n%s" % (name, mutant_id, diff.strip()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
