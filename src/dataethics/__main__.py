"""``python -m dataethics``: the same command line as the ``dataethics`` script."""

import sys

from dataethics.cli import main

sys.exit(main())
