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
