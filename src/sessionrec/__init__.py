"""sessionrec: session-based recommendation, from click logs to a served model."""

__version__ = "0.1.0"
