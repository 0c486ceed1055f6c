"""sessionrec.experiments."""
