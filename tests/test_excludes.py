"""The exclude patterns, as a table (pure: no files)."""

import unittest

from task_runner.config.excludes import Matcher, PatternError


class MatcherTest(unittest.TestCase):
    # (pattern, relative path, is a folder, excluded)
    CASES = [
        ("*.tmp", "a.tmp", False, True),
        ("*.tmp", "deep/er/a.tmp", False, True),
        ("*.tmp", "a.tmpx", False, False),
        ("?.txt", "a.txt", False, True),
        ("?.txt", "ab.txt", False, False),
        ("?.txt", "d/a.txt", False, True),  # a name pattern: any depth
        ("a?c", "a/c", False, False),  # ? never matches /
        ("[abc].log", "b.log", False, True),
        ("[abc].log", "d.log", False, False),
        ("[!abc].log", "d.log", False, True),
        ("[!abc].log", "a.log", False, False),
        ("[a-c]x", "bx", False, True),
        ("[]]x", "]x", False, True),
        ("[!]]x", "ax", False, True),
        ("[!]]x", "]x", False, False),
        ("[^a]x", "^x", False, True),  # ^ is a member, not a negation (as fnmatch)
        ("[^a]x", "bx", False, False),
        ("file[1].txt", "file1.txt", False, True),
        ("build/*.o", "build/x.o", False, True),
        ("build/*.o", "build/sub/x.o", False, False),  # * stops at /
        ("build/*.o", "other/build/x.o", False, False),  # a path pattern is anchored at src
        ("build/**", "build", True, True),  # the folder itself: not even walked
        ("build/**", "build/a/b/c.o", False, True),
        ("build/**", "builder/x", False, False),
        ("a/**/b", "a/x/y/b", False, True),
        ("a/**/b", "a/b", False, False),  # ** in the middle stands for at least one /
        ("a/**/b", "a/x/b/c", False, False),
        ("/top.txt", "top.txt", False, True),  # a leading / anchors a name at src
        ("/top.txt", "sub/top.txt", False, False),
        ("logs/", "logs", True, True),  # folders only
        ("logs/", "logs", False, False),
        ("logs/", "x/logs", True, True),
        ("sub\\*.bak", "sub/a.bak", False, True),  # a backslash is a separator, as on Windows
        ("sub\\*.bak", "a.bak", False, False),
        ("  *.tmp  ", "a.tmp", False, True),  # surrounding blanks are ignored
        ("a.b", "aXb", False, False),  # . is literal
        ("a+b(c)", "a+b(c)", False, True),  # so are other regex characters
        ("X", "X", False, True),  # letters at the ends are never taken for separators
        ("XaX", "XaX", False, True),
        ("XaX", "aX", False, False),
    ]

    def test_table(self):
        for pattern, rel, is_dir, expected in self.CASES:
            with self.subTest(pattern=pattern, rel=rel, is_dir=is_dir):
                m = Matcher([pattern], ignore_case=False)
                self.assertIs(m.excluded(rel, rel.rsplit("/", 1)[-1], is_dir), expected)

    def test_case(self):
        self.assertTrue(Matcher(["*.TMP"], ignore_case=True).excluded("a.tmp", "a.tmp", False))
        self.assertFalse(Matcher(["*.TMP"], ignore_case=False).excluded("a.tmp", "a.tmp", False))
        self.assertTrue(Matcher(["Build/**"], ignore_case=True).excluded("build/x", "x", False))

    def test_several_patterns_and_empty_matcher(self):
        m = Matcher(["*.tmp", "cache/**"], ignore_case=False)
        self.assertTrue(m.excluded("cache/x", "x", False))
        self.assertTrue(m.excluded("y.tmp", "y.tmp", False))
        self.assertFalse(m.excluded("y.txt", "y.txt", False))
        self.assertFalse(Matcher([], ignore_case=False))
        self.assertTrue(m)
        self.assertTrue(Matcher(["*.tmp"], ignore_case=False))  # names only
        self.assertTrue(Matcher(["a/b"], ignore_case=False))  # paths only

    def test_errors(self):
        cases = [
            ("", "each pattern must be a non-empty string, got ''"),
            ("  ", "each pattern must be a non-empty string, got '  '"),
            ("/", "each pattern must be a non-empty string, got '/'"),
            (5, "each pattern must be a non-empty string, got 5"),
            ("[abc", "unclosed [ in '[abc'"),
            ("x[!", "unclosed [ in 'x[!'"),
        ]
        for pattern, message in cases:
            with self.subTest(pattern=pattern):
                with self.assertRaises(PatternError) as ctx:
                    Matcher([pattern])
                self.assertEqual(str(ctx.exception), message)


if __name__ == "__main__":
    unittest.main()
