"""gunicorn settings read from the repository root (``make serve``, ``bench/serve.py``).

Each sync worker serves one request at a time, so its model maths (LightGBM, OpenBLAS,
torch, implicit) runs on one thread: workers do not fight over cores and idle thread
pools do not spin between requests (2-5x the recommendation latency on 2 cores
otherwise). Set here, in the master, before any worker imports numpy;
WEB_COMPUTE_THREADS=n changes it. Celery workers, which train, are not affected.
"""

import os

_threads = os.environ.get("WEB_COMPUTE_THREADS", "1")
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, _threads)
