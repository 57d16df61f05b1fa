"""Rasa caches a trained component under a fingerprint of its config and training data, not of
its code or of the files it reads itself. A component that adds them (GraphComponent's
fingerprint_addon) is retrained when its code or its own data file changes, instead of a stale
model coming back from the cache (.rasa/)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def files_fingerprint(*paths: str | Path | None) -> str:
    """SHA-256 over the named files' contents, in order; a missing or unnamed file counts as empty."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes() if path and Path(path).is_file() else b"")
        digest.update(b"\0")
    return digest.hexdigest()
