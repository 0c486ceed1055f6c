"""sessionrec.nn."""
