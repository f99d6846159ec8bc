"""Native test of `{{name}}`'s logic: `python3 test_logic.py`."""

import unittest

import logic


class ToolTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(logic.greet(name="Ada"), "Hello, Ada!")
        self.assertIn("greet", logic.TOOLS)


if __name__ == "__main__":
    unittest.main()
