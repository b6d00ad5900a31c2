"""The one exception of the media package."""

from __future__ import annotations


class MediaRefused(Exception):
    """A file the server will not store. `text` is a sentence a client can be shown as it is."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
