"""`python -m geodns` is the same as the `geodns` command."""

import sys

from geodns.cli import main

sys.exit(main())
