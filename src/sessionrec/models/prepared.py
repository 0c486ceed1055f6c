"""What a model learns from the whole training log before its network exists, on disk.

``Recommender.prepare(train)`` returns named arrays: NumPy arrays and SciPy CSR matrices
(global item graphs, neighbour indices, samplers). They are saved beside the weights as
one ``.npz`` (no pickle: a CSR matrix is stored as its ``data``, ``indices``, ``indptr``
and ``shape``), with the number of items and the fingerprint of the training split they
came from, both checked at load. A model whose structures are costly names the config
keys that shape them (``prepare_keys``); they are then cached on disk under
``$SESSIONREC_CACHE_DIR`` (default ``~/.cache/sessionrec``; ``off`` disables it), keyed by
the model, those settings, the training split's fingerprint and the package version, so a
second run on the same sessions does not rebuild them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from sessionrec import __version__
from sessionrec.data.sessions import Split
from sessionrec.errors import CheckpointError
from sessionrec.io import atomic_write_bytes

Array = np.ndarray | sp.csr_array
Prepared = dict[str, Array]
PREPARED_FILE = "prepared.npz"
CACHE_ENV = "SESSIONREC_CACHE_DIR"
_CSR_PARTS = ("data", "indices", "indptr", "shape")
_META = "__meta__"


def split_fingerprint(split: Split) -> str:
    """SHA-256 of a split's sessions, samples and catalogue size: equal iff the same training data."""
    digest = hashlib.sha256()
    sessions = split.sessions
    for array in (sessions.offsets, sessions.items, split.sample_session, split.sample_cut):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(str(split.n_items).encode())
    return digest.hexdigest()


def encode_prepared(prepared: Prepared, n_items: int, fingerprint: str) -> bytes:
    """The ``.npz`` bytes of ``prepared``, with its item count and training fingerprint."""
    arrays: dict[str, np.ndarray] = {}
    for name, value in prepared.items():
        if "::" in name or name == _META:
            raise ValueError(f"prepared structure name {name!r} is reserved")
        if sp.issparse(value):
            csr = sp.csr_array(value)
            for part in _CSR_PARTS:
                arrays[f"{name}::csr::{part}"] = np.asarray(getattr(csr, part))
        else:
            arrays[name] = np.asarray(value)
    meta = {"n_items": n_items, "train_fingerprint": fingerprint, "sessionrec_version": __version__}
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def decode_prepared(path: Path, n_items: int) -> tuple[Prepared, dict[str, Any]]:
    """Read a prepared ``.npz``; one :class:`CheckpointError` for a bad, truncated or foreign file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {name: npz[name] for name in npz.files}
        meta = json.loads(raw.pop(_META).tobytes())
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: unreadable or truncated prepared structures ({exc})") from None
    if meta.get("n_items") != n_items:
        raise CheckpointError(
            f"{path}: prepared for {meta.get('n_items')} items, the vocabulary has {n_items}"
        )
    prepared: Prepared = {}
    for key, value in raw.items():
        name, sep, rest = key.partition("::csr::")
        if not sep:
            prepared[key] = value
        elif rest == "data":
            parts = [raw[f"{name}::csr::{part}"] for part in _CSR_PARTS]
            prepared[name] = sp.csr_array((parts[0], parts[1], parts[2]), shape=tuple(parts[3]))
    return prepared, meta


def save_prepared(path: Path, prepared: Prepared, n_items: int, fingerprint: str) -> None:
    atomic_write_bytes(path, encode_prepared(prepared, n_items, fingerprint))


def same_prepared(first: Prepared, second: Prepared) -> bool:
    """Whether two prepared states hold the same names and identical values."""
    if first.keys() != second.keys():
        return False
    for name, a in first.items():
        b = second[name]
        if sp.issparse(a) != sp.issparse(b):
            return False
        if sp.issparse(a):
            a, b = sp.csr_array(a), sp.csr_array(b)
            if a.shape != b.shape or (a != b).nnz:
                return False
        elif not np.array_equal(a, b):
            return False
    return True


def cache_directory() -> Path | None:
    """Where costly prepared structures are cached; None when caching is off."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in ("off", "0", "none"):
        return None
    return Path(value) if value else Path.home() / ".cache" / "sessionrec"


def cache_path(model: str, settings: dict[str, Any], fingerprint: str) -> Path | None:
    root = cache_directory()
    if root is None:
        return None
    key = json.dumps(
        {"model": model, "settings": settings, "train": fingerprint, "version": __version__}, sort_keys=True
    )
    return root / "prepared" / f"{model}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"
