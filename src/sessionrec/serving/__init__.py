"""sessionrec.serving."""
