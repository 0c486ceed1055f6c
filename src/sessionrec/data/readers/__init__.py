"""Raw-log readers, one module per source, and :func:`preprocess`, the single entry point.

Each reader turns its source's file into clicks (session, item, time[, order]) and
hands them to the standard protocol (:mod:`sessionrec.data.protocol`) with the
source's defaults; any default can be overridden through ``options``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sessionrec.data.dataset import Dataset
from sessionrec.data.protocol import StepCallback
from sessionrec.data.readers import custom, diginetica, nowplaying, retailrocket, tmall, yoochoose
from sessionrec.data.readers.common import Reader
from sessionrec.errors import ConfigError

READERS: dict[str, Reader] = {
    module.READER.name: module.READER
    for module in (diginetica, yoochoose, retailrocket, tmall, nowplaying, custom)
}
SOURCES: tuple[str, ...] = tuple(READERS)


def get_reader(source: str) -> Reader:
    try:
        return READERS[source.lower()]
    except KeyError:
        raise ConfigError(f"unknown source {source!r}; valid sources: {', '.join(SOURCES)}") from None


def preprocess(
    source: str,
    raw_path: str | Path,
    out_dir: str | Path | None = None,
    *,
    on_step: StepCallback | None = None,
    **options: Any,
) -> Dataset:
    """Read ``raw_path`` as ``source``, apply the protocol, optionally save to ``out_dir``.

    ``options`` are the reader's options (see ``READERS[source].options``): protocol
    parameters such as ``test_days`` or ``min_item_support`` and source-specific ones
    such as Yoochoose's ``fraction`` or the custom reader's column names. Unknown keys
    raise :class:`ConfigError` listing the valid ones. The output directory is written
    atomically: it appears complete or not at all.
    """
    reader = get_reader(source)
    parsed = reader.options.from_dict(options)
    dataset = reader.run(Path(raw_path), parsed, on_step)
    if out_dir is not None:
        if on_step:
            on_step(f"writing {out_dir}")
        dataset.save(out_dir)
    return dataset


__all__ = ["READERS", "SOURCES", "Reader", "get_reader", "preprocess"]
