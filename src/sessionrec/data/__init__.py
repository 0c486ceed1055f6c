"""sessionrec.data."""
