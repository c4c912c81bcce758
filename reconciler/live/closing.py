"""What a `with` block closes when it ends: pcr's API clients and its sign-ins hold
connections, and give them back however the block ends."""

from __future__ import annotations

from typing import Self


class Closing:
    """A resource to use in a `with` block, which calls its `close()` on the way out."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError
