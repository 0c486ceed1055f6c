"""sessionrec.graphs."""
