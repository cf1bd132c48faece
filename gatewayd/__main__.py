"""`python -m gatewayd …`: the same command as the `gatewayd` console script."""

import sys

from gatewayd.cli import main

if __name__ == "__main__":
    sys.exit(main())
