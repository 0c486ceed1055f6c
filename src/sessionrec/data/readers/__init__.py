"""sessionrec.data.readers."""
