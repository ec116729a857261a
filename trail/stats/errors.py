"""The one error a Stats API query can raise for bad input; its message names the bad part (answered as 400)."""

from __future__ import annotations


class QueryError(ValueError):
    """A query body, or a part of it, is not valid; str(error) says which part and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
