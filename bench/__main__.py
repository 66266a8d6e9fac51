"""``python -m bench``: run the dasktune vs Ray Tune benchmark (see :mod:`bench.run`)."""

import sys

from bench.run import main

sys.exit(main())
