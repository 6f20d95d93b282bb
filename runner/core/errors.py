"""Errors that end a command with one clear line and a non-zero exit code."""


class UserError(Exception):
    """Bad input or a missing prerequisite: exit code 2, one line naming the fix, no traceback."""

