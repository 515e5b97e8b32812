"""Protocol errors carry where they are: ``file:line:col: message`` (bench exit code 2)."""

from __future__ import annotations


class ProtocolError(ValueError):
    """An invalid protocol; ``str()`` is the one-line ``file:line:col: message`` form."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, col: int = 0,
                 suggestion: str = "") -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.suggestion = suggestion
        super().__init__(self.format())

    def format(self) -> str:
        """``file:line:col: message (did you mean ...?)``."""
        where = self.file or "<protocol>"
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        hint = f" ({self.suggestion})" if self.suggestion else ""
        return f"{where}: {self.message}{hint}"

    def located(self, *, file: str | None = None, line: int | None = None, col_offset: int = 0) -> ProtocolError:
        """A copy placed in ``file`` at ``line`` (keeping a column shifted by ``col_offset``)."""
        return ProtocolError(
            self.message,
            file=file if file is not None else self.file,
            line=line if line is not None else self.line,
            col=(self.col + col_offset) if self.col else 0,
            suggestion=self.suggestion,
        )


class ProtocolErrors(ProtocolError):
    """Every problem found in one protocol, sorted by place; ``str()`` is one line per problem."""

    errors: list[ProtocolError]

    def __init__(self, errors: list[ProtocolError]) -> None:
        flat: list[ProtocolError] = []
        for err in errors:
            flat.extend(err.errors if isinstance(err, ProtocolErrors) else [err])
        unique = {e.format(): e for e in flat}
        self.errors = sorted(unique.values(), key=lambda e: (e.file, e.line, e.col, e.message))
        first = self.errors[0]
        super().__init__(first.message, file=first.file, line=first.line, col=first.col,
                         suggestion=first.suggestion)

    def format(self) -> str:
        """One ``file:line:col: message`` line per problem."""
        return "\n".join(e.format() for e in getattr(self, "errors", []))

    def located(self, *, file: str | None = None, line: int | None = None, col_offset: int = 0) -> ProtocolError:
        """Each problem placed in ``file`` (lines and columns are kept)."""
        return ProtocolErrors([e.located(file=file, col_offset=0) for e in self.errors])


def raise_all(errors: list[ProtocolError]) -> None:
    """Raise the one error, or all of them as :class:`ProtocolErrors`; nothing when empty."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProtocolErrors(errors)
