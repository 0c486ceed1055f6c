"""Unpickling untrusted files into nested lists, tuples and ints, in bounded time and memory.

``pickle.load`` runs whatever a file asks for, and even a pickle that names no
global can stall a reader. Three guards, each failing with one :class:`DataError`
that names the file and the problem:

1. **Opcodes first.** Before any object is built, the opcode stream is scanned and
   only the opcodes that build lists, tuples and ints (and push, pop and memoise
   them) are allowed: a global, a reduction, a dict, a set, a string or a float is
   refused there (a dict or set key is hashed while unpickling, and hashing nested
   tuples that share parts costs time exponential in their depth). Memo indices must
   be below the number of opcodes read, since the unpickler sizes its memo table by
   the largest index it is given.
2. **No cycles.** A list that contains itself, directly or through others, is refused
   (every later walk over it would loop forever).
3. **No amplification.** Shared references (one list repeated through the memo) let a
   small file stand for a huge value; the value, with every shared part counted as
   often as it appears, may hold at most :data:`ELEMENTS_PER_BYTE` elements per byte
   of file. A pickle spends at least one byte on each element it writes, so only
   sharing can exceed that.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections import deque
from pathlib import Path
from typing import Any

from sessionrec.errors import DataError

ELEMENTS_PER_BYTE = 2
MIN_ELEMENTS = 10_000  # the cap for tiny files: a few sessions never trip it
_BUILDS = frozenset(
    {
        "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
        "EMPTY_LIST", "LIST", "APPEND", "APPENDS",
        "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
        "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
    }
)  # fmt: skip
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_LITERALS = {
    "NONE": "NoneType", "NEWTRUE": "bool", "NEWFALSE": "bool", "FLOAT": "float", "BINFLOAT": "float",
    "STRING": "str", "BINSTRING": "str", "SHORT_BINSTRING": "str", "UNICODE": "str",
    "BINUNICODE": "str", "SHORT_BINUNICODE": "str", "BINUNICODE8": "str",
    "BINBYTES": "bytes", "SHORT_BINBYTES": "bytes", "BINBYTES8": "bytes", "BYTEARRAY8": "bytearray",
    "EMPTY_DICT": "dict", "DICT": "dict", "SETITEM": "dict", "SETITEMS": "dict",
    "EMPTY_SET": "set", "ADDITEMS": "set", "FROZENSET": "frozenset",
}  # fmt: skip
KINDS = "lists, tuples and ints"
ALLOWED = f"only {KINDS} are allowed"


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # unreachable after the scan; kept as a backstop
        raise DataError(f"refusing to load {module}.{name}: SR-GNN pickles hold only {KINDS}")


def load_restricted(path: str | Path) -> Any:
    """Unpickle ``path``, allowing nothing but nested lists, tuples and ints, bounded as above."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if not data:
        raise DataError(f"{path}: empty file")
    try:
        _scan_opcodes(data)
        value = _NoGlobalsUnpickler(io.BytesIO(data)).load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:
        raise DataError(f"{path}: not a valid pickle ({type(exc).__name__}: {exc})") from None
    limit = max(ELEMENTS_PER_BYTE * len(data), MIN_ELEMENTS)
    try:
        expanded_size(value, limit)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return value


def _scan_opcodes(data: bytes) -> None:
    """Refuse any opcode but those that build lists, tuples and ints; a global is named."""
    refused: str | None = None
    strings: deque[str] = deque(maxlen=2)  # the last two pushed: STACK_GLOBAL's module and name
    for count, (opcode, arg, _) in enumerate(pickletools.genops(data)):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            module, _, attribute = str(arg).partition(" ")
            raise DataError(f"refusing to load {module}.{attribute}: SR-GNN pickles hold only {KINDS}")
        if name == "STACK_GLOBAL":
            module, attribute = strings if len(strings) == 2 else ("?", "?")
            raise DataError(f"refusing to load {module}.{attribute}: SR-GNN pickles hold only {KINDS}")
        if isinstance(arg, str):
            strings.append(arg)
        if name in _BUILDS:
            if name == "INT" and isinstance(arg, bool):  # protocol 0 spells True as I01
                refused = refused or "bool"
            elif name in _MEMO_PUTS and arg > count:
                raise DataError(f"memo index {arg} at opcode {count} is out of range")
        elif name in _LITERALS:
            refused = refused or _LITERALS[name]
        else:  # REDUCE, BUILD, NEWOBJ, PERSID, buffers...: objects only code could build
            raise DataError(f"refusing to load an object (pickle opcode {name}); {ALLOWED}")
    if refused is not None:  # reported after the scan, so that a global anywhere is named first
        raise DataError(f"holds a {refused}; {ALLOWED}")


def expanded_size(value: Any, limit: int) -> int:
    """Elements of ``value`` counting shared parts as often as they appear; a cycle or > ``limit`` fails.

    Each distinct list or tuple is walked once (its expanded size is memoised by
    identity), so the walk costs the file's size even when the value's is huge.
    """
    if not isinstance(value, (list, tuple)):
        return 1
    done: dict[int, int] = {}
    on_path = {id(value)}
    stack: list[list[Any]] = [[value, 0, 1]]  # container, next child, size so far (itself included)
    while stack:
        frame = stack[-1]
        node, position, size = frame
        child = None
        while position < len(node):
            item = node[position]
            position += 1
            if not isinstance(item, (list, tuple)):
                size += 1
            elif id(item) in on_path:
                raise DataError(
                    f"a {type(item).__name__} contains itself (a cycle); {ALLOWED}, without cycles"
                )
            elif id(item) in done:
                size += done[id(item)]
            else:
                child = item
                break
        if size > limit:
            raise DataError(
                f"holds more than {limit:,} elements once shared references are expanded "
                f"(at most {ELEMENTS_PER_BYTE} per byte of file)"
            )
        frame[1], frame[2] = position, size
        if child is not None:
            on_path.add(id(child))
            stack.append([child, 0, 1])
            continue
        stack.pop()
        on_path.discard(id(node))
        done[id(node)] = size
        if stack:
            stack[-1][2] += size
    return done[id(value)]
