"""Native tests of text-py: `python3 test_logic.py`."""

import unittest

import logic


class TextTest(unittest.TestCase):
    def test_word_count(self):
        self.assertEqual(logic.word_count("the quick  brown fox"), "4")
        self.assertEqual(logic.word_count(""), "0")

    def test_no_shouting(self):
        self.assertEqual(logic.judge("no_shouting", "STOP SHOUTING AT ME"), "shouting: most letters are capitals")
        self.assertIsNone(logic.judge("no_shouting", "Hello there, NASA"))
        self.assertIsNone(logic.judge("no_shouting", "OK"))

    def test_cannot_judge(self):
        with self.assertRaises(KeyError):
            logic.judge("missing", "x")
        with self.assertRaises(ValueError):
            logic.judge("no_shouting", "a" * (logic.TOO_LONG + 1))


if __name__ == "__main__":
    unittest.main()
