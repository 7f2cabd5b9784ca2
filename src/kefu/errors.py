"""The domain's exceptions. The API maps them to HTTP status codes in one place (api/errors.py);
the CLI prints their message without a traceback."""

from __future__ import annotations


class KefuError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidInput(KefuError):
    code = "invalid_input"


class NotFound(KefuError):
    code = "not_found"


class Conflict(KefuError):
    code = "conflict"


class Unauthorized(KefuError):
    code = "unauthorized"


class Forbidden(KefuError):
    code = "forbidden"


class NotReady(KefuError):
    code = "not_ready"


class InvalidData(InvalidInput):
    """A file or batch with problems, each located (`row 3: answer_zh: ...`)."""

    code = "invalid_data"

    def __init__(self, problems: list[str], *, code: str | None = None) -> None:
        super().__init__("\n".join(problems), code=code)
        self.problems = problems
