"""``python -m restoration.evaluate --workdir=DIR [--data=...]``: see ``evaluate.py``."""

import sys

from restoration.evaluate.evaluate import main

sys.exit(main())
