"""Real local services for tests: a moto S3 server, a fault-injecting TCP proxy.

The pytest fixtures live in :mod:`tests.services.fixtures`; SLURM is started
outside pytest by ``ci/slurm.sh start``.
"""

from __future__ import annotations
