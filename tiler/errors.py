"""The one error type of the project: a message with the source location it is about."""

from __future__ import annotations


class TilerError(Exception):
    """An error in the user's input, carrying the place in the source it is about.

    Attributes:
        message: what is wrong, naming the offending text.
        filename: the file the error is in (``None`` for text given directly).
        line, column: 1-based position of the offending text (``None`` when not known).
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 filename: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.filename = filename

    def with_filename(self, filename: str) -> TilerError:
        """Return the same error located in ``filename``."""
        return TilerError(self.message, self.line, self.column, filename)

    def __str__(self) -> str:
        where = self.filename or "<input>"
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: error: {self.message}"
