"""console.command: the command a message suggests can be pasted as it is."""

import os
import shlex
import unittest

from task_runner import console


class CommandTest(unittest.TestCase):
    @unittest.skipIf(os.name == "nt", "a POSIX shell's quoting")
    def test_a_pasted_command_gives_the_program_the_name(self):
        # Found from outside: for a task named q"\x}{ the log suggested python3 backup_now.py "q"\x}{".
        for name in ("MD1", "My Documents", 'q"\\x}{', "it's $HOME", "a`b`!"):
            with self.subTest(name=name):
                words = shlex.split(console.command("backup_now", name))
                self.assertEqual(words, ["python3", "backup_now.py", name])
        self.assertEqual(console.command("backup_now", "MD1"), 'python3 backup_now.py "MD1"')
        self.assertEqual(console.command("scheduled_task_runner"), "python3 scheduled_task_runner.py")


if __name__ == "__main__":
    unittest.main()
