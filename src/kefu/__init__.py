"""kefu: intelligent customer service for sharing-economy operators."""

__version__ = "0.1.0"

import os as _os

# Per-message math is small (a 512-d vector against a few thousand rows): BLAS worker threads
# only add spin-wait latency, badly so on shared cores (a 0.1 ms product measured at 5-15 ms
# while another process was busy). Set before numpy loads; an operator's own value wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
