"""One way to fail.

Editors' problems are never exceptions: they are findings (``content.findings``), reported
with file, line and field, and the rest of the work goes on. Exceptions are for the
machinery, and say what should happen next:

- ``Retryable``: a condition that time may cure (an object not written yet, a write that
  lost a race). The message comes back later; if it keeps failing it ends in a
  dead-letter queue with this reason.
- ``NotYet``: the message arrived before one it depends on. It is sent again after a
  delay without counting as a failure.
- ``Permanent``: the message can never be applied as it is (a malformed manifest).
  Retrying cannot help, so the stage records it and drops the message.
- ``CommandError``: what a ``broadsheet`` command prints once, with its exit code.
"""

from __future__ import annotations


class BroadsheetError(Exception):
    """Every failure Broadsheet raises on purpose."""


class Retryable(BroadsheetError):
    """Transient: process the message again later."""


class NotYet(BroadsheetError):
    """The message must wait for an earlier one; send it again after ``delay`` seconds."""

    def __init__(self, reason: str, delay: int = 30) -> None:
        super().__init__(reason)
        self.delay = delay


class Permanent(BroadsheetError):
    """Retrying cannot help: record why and drop the message."""


class CommandError(BroadsheetError):
    """A command's failure: ``main`` prints the message once and exits with the code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
