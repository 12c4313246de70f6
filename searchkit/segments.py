"""Kept for indexes built before the storage engine moved to :mod:`searchkit.engine`.

Their table of contents pickles the codec as ``searchkit.segments.SearchkitCodec``.
"""

from .engine.codec import SearchkitCodec

__all__ = ["SearchkitCodec"]
