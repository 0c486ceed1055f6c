"""sessionrec: session-based recommendation, from click logs to a served model."""

from sessionrec.runtime.numerics import apply_flush_denormal

__version__ = "0.1.0"

# Before anything of the package starts torch's worker threads, which copy the mode from
# this thread: subnormal floats are flushed to zero (see sessionrec.runtime.numerics).
apply_flush_denormal()
