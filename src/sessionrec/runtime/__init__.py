"""sessionrec.runtime: process-wide CPU settings (floating-point modes, allocator, BLAS
backends, reusable work buffers), kept apart from the layers in ``sessionrec.nn``."""
