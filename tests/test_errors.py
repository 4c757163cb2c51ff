"""The one-line report of an error: its first non-blank line, or its class name when it says nothing."""

from mtlops.errors import DataError, first_line


def test_first_line_skips_blank_lines_and_falls_back_to_the_class_name():
    assert first_line(ValueError("\n  bad column 'x'\n  traceback detail\n")) == "bad column 'x'"
    assert first_line(DataError("")) == "DataError"
    assert first_line(KeyError()) == "KeyError"
