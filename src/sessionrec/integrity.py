"""SHA-256 digests of the files a saved model holds, recorded at write time, checked at load.

A bit-flipped weight file loads without complaint in torch and NumPy and silently changes
every score; a digest mismatch is caught before anything is read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sessionrec.errors import CheckpointError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def digest_files(directory: Path) -> dict[str, str]:
    """``{name: sha256}`` of every regular file directly in ``directory``."""
    return {p.name: sha256_file(p) for p in sorted(Path(directory).iterdir()) if p.is_file()}


def verify_files(directory: Path, digests: dict[str, str]) -> None:
    """Raise one :class:`CheckpointError` naming the first file missing or not as recorded."""
    for name, expected in digests.items():
        path = Path(directory) / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing (the saved model records it)")
        if sha256_file(path) != expected:
            raise CheckpointError(
                f"{path}: content does not match the SHA-256 recorded when it was saved "
                "(the file is corrupted, truncated or was modified)"
            )
