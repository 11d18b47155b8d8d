"""`python -m heatwatch <command>`."""

import sys

from heatwatch.cli import main

sys.exit(main())
