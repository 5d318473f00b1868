"""`python -m dataflows.cli`."""

import sys

from dataflows.cli import main

sys.exit(main())
