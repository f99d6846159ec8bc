"""Native test of `{{name}}`'s logic: `python3 test_logic.py`."""

import unittest

import logic


class GuardrailTest(unittest.TestCase):
    def test_trips_on_passwords_only(self):
        self.assertEqual(logic.no_passwords("my Password is 1234"), "mentions a password")
        self.assertIsNone(logic.no_passwords("hello"))


if __name__ == "__main__":
    unittest.main()
