"""The ``sessionrec`` command (also ``python -m sessionrec``)."""

from __future__ import annotations

import sys

from sessionrec.openmp import prefer_passive_wait


def main() -> None:
    prefer_passive_wait(sys.argv[1:])  # before torch loads: see sessionrec.openmp
    from sessionrec.cli import app

    app()


if __name__ == "__main__":
    main()
