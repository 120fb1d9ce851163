"""Errors of gradcalc: one message line naming the file, line and field, mapped to exit status 2."""
from __future__ import annotations


class GradcalcError(Exception):
    """Base class of every error the CLI reports as one line (exit status 2)."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.field = field
        self.line = line

    def located(self, *, file: str | None = None, field: str | None = None,
                line: int | None = None) -> "GradcalcError":
        """Fill in location parts that are still unknown; returns self."""
        if self.file is None:
            self.file = file
        if self.field is None:
            self.field = field
        if self.line is None:
            self.line = line
        return self

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class ProblemError(GradcalcError):
    """The problem file is unusable: syntax, unknown keys, shapes, numbers."""


class ExpressionError(ProblemError):
    """An expression string could not be parsed by the safe parser."""

    def __init__(self, message: str, *, column: int | None = None, **kw):
        super().__init__(message, **kw)
        self.column = column


class DomainError(ProblemError):
    """A value is outside an operation's domain (log of <= 0, division by 0 ...)."""


class AnswerError(GradcalcError):
    """A student's answer file or value is unusable."""


class UsageError(GradcalcError):
    """Wrong command-line usage that click cannot detect by itself."""
