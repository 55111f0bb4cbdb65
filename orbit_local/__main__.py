"""``python -m orbit_local``: the same as the ``orbit-local`` command."""

import sys

from orbit_local.cli import main

sys.exit(main())
