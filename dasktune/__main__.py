"""``python -m dasktune``: the ``dasktune`` command line (see :mod:`dasktune.cli`)."""

from __future__ import annotations

import sys

from dasktune.cli import main

sys.exit(main())
