"""One command per job: each entry script is a set of verbs (``backup``,
``restore``, ``snapshots`` ...), each verb a module of this package with its
own options and ``--help``.

A verb module has ``NAME``, ``SUMMARY``, ``EXAMPLES`` and
``run(config, args, program)`` (the exit code); where it has them, ``ALIAS``
(the old flag spelling that still works), ``WORDS`` (the ``dest`` of its
positional words) and ``add_arguments(parser)``.

Every verb's parser is built at start-up, so a verb module imports at
its top only what its options need; the floors its job uses are imported
in its ``run`` (a backup without ``offsite`` loads nothing of offsite/,
restore/ or schedule/: bench/startup.py).
``parse`` is pure (argv in, the verb and its arguments out) and does for
every Python from 3.6 what ``parse_intermixed_args`` (3.7+) does: options
and words in any order. An option of another verb is refused, naming the
verb it belongs to, before anything runs.
"""

import argparse
import sys

from .. import console
from ..config import load_config
from ..errors import UsageError

GLOBAL = "--config"


class Program(object):
    """An entry script's verbs: ``verbs`` (modules), ``default`` (the verb
    when the first word is not one)."""

    def __init__(self, prog, description, verbs, default, config_default):
        self.prog, self.description, self.default = prog, description, default
        self.verbs = {v.NAME: v for v in verbs}
        self.order = [v.NAME for v in verbs]
        self.config_default = config_default
        self.aliases = {v.ALIAS: v.NAME for v in verbs if getattr(v, "ALIAS", None)}
        self.parsers = {name: self._parser(self.verbs[name]) for name in self.order}
        self.owner = {}  # option string -> the verbs that take it
        for name in self.order:
            for action in self.parsers[name]._actions:
                for option in action.option_strings:
                    self.owner.setdefault(option, []).append(name)

    def _parser(self, verb):
        p = argparse.ArgumentParser(
            prog="%s %s" % (self.prog, verb.NAME), description=verb.SUMMARY,
            epilog="examples:\n" + "\n".join("  %s %s" % (self.prog, e) for e in verb.EXAMPLES),
            formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
        p.add_argument(GLOBAL, default=self.config_default, metavar="PATH",
                       help="the config file (default: config.json next to this program)")
        getattr(verb, "add_arguments", lambda parser: None)(p)
        return p

    def main(self, program, argv=None):
        """Parse ``argv``, read the config, run the verb: its exit code."""
        argv = sys.argv[1:] if argv is None else list(argv)
        if self.wants_help(argv):
            console.print_safe(self.help_text())
            return 0
        verb, args = self.parse(argv)
        return self.verbs[verb].run(load_config(args.config), args, program)

    def wants_help(self, argv):
        """True for ``--help`` (or -h) without a verb: the list of verbs is shown."""
        words = [w for i, w in enumerate(argv) if not w.startswith("-") and not _after_config(argv, i)]
        return any(w in ("-h", "--help") for w in argv) and not (words and words[0] in self.verbs) and not any(
            w in self.aliases for w in argv)

    def help_text(self):
        lines = ["usage: %s [VERB] [options]" % self.prog, "", self.description, "", "verbs:"]
        for name in self.order:
            verb = self.verbs[name]
            lines.append("  %-18s %s%s" % (name, verb.SUMMARY, " (the default)" if name == self.default else ""))
        lines += ["", "%s VERB --help shows a verb's options and examples; --config PATH goes with any verb."
                  % self.prog]
        olds = ", ".join(sorted(self.aliases))
        if olds:
            lines.append("The old spellings %s still work." % olds)
        return "\n".join(lines)

    def parse(self, argv):
        """(verb name, argparse.Namespace) for ``argv``; UsageError for a
        stray option, two verbs, or an option of another verb."""
        argv = list(argv)
        verb = None
        for i, word in enumerate(argv):
            if word in self.aliases:
                if verb is not None and self.aliases[word] != verb:
                    raise UsageError("%s and %s are two jobs: run one at a time" % (
                        self._spelling(verb), word))
                verb = self.aliases[word]
                argv[i] = None
        argv = [w for w in argv if w is not None]
        first = next((i for i, w in enumerate(argv) if not w.startswith("-") and not _after_config(argv, i)), None)
        word = argv[first] if first is not None else None
        if verb is not None and word in self.verbs and word != verb and word != self.default:
            raise UsageError("%s and %s are two jobs: run one at a time" % (word, self._spelling(verb)))
        if verb is None:
            if word in self.verbs:
                verb = argv.pop(first)
            else:
                self._not_a_verb(word)
                verb = self.default
        parser = self.parsers[verb]
        args, rest = parser.parse_known_args(argv)
        for word in rest:
            if word.startswith("-") and word != "-":
                raise UsageError(self._stray(word.split("=", 1)[0], verb))
        words = getattr(self.verbs[verb], "WORDS", None)
        if rest and words is None:
            raise UsageError("%s %s takes no %s: %s" % (self.prog, verb, "word" if len(rest) == 1 else "words",
                                                        " ".join(rest)))
        if rest:
            setattr(args, words, list(getattr(args, words) or []) + rest)
        return verb, args

    def _not_a_verb(self, word):
        """A first word that looks like a mistyped verb is refused, saying
        which verb; a task of that name is reached with the default verb."""
        if word is None:
            return
        lowered = word.lower()
        # difflib's ratio is at most 2*min(len a, len b)/(len a + len b): a word too short or too long to
        # be 0.75 like any verb (a task name such as "MD1") is not compared, and difflib is not loaded.
        if not any(2.0 * min(len(lowered), len(v)) >= 0.75 * (len(lowered) + len(v)) for v in self.verbs):
            return
        import difflib
        close = difflib.get_close_matches(lowered, list(self.verbs), n=1, cutoff=0.75)
        if close and word.lower() != close[0]:
            raise UsageError("%s is not a verb of %s: did you mean %s? (A task of that name: %s %s \"%s\")"
                             % (word, self.prog, close[0], self.prog, self.default, word))
        if close:  # the verb in other case: STATUS
            raise UsageError("verbs are written in small letters: %s %s" % (self.prog, close[0]))

    def _spelling(self, verb):
        old = [a for a, v in self.aliases.items() if v == verb]
        return old[0] if old else verb

    def _stray(self, option, verb):
        owners = [v for v in self.owner.get(option, []) if v != verb]
        if owners:
            named = owners[0] if len(owners) == 1 else ", ".join(owners[:-1]) + " and " + owners[-1]
            return "%s goes with %s: %s %s %s ...; it does nothing for %s" % (
                option, named, self.prog, owners[0], option, verb)
        return "%s is not an option of %s %s (see %s %s --help)" % (option, self.prog, verb, self.prog, verb)


def _after_config(argv, index):
    """True when argv[index] is the value of --config."""
    return index > 0 and argv[index - 1] == GLOBAL
