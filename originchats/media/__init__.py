"""Type sniffing and image re-encoding for uploads, emoji and server assets (the shell's side:
core/ never imports this package). Pillow runs in worker threads only."""

from ..core.settings import CompressionSettings  # `[attachments.compression]`: defined once, there
from .errors import MediaRefused
from .prepare import DEFAULT_LIMITS, MediaLimits, Prepared, normalise_exts, prepare_emoji, prepare_upload

__all__ = ["DEFAULT_LIMITS", "CompressionSettings", "MediaLimits", "MediaRefused", "Prepared",
           "normalise_exts", "prepare_emoji", "prepare_upload"]
