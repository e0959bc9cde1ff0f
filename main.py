"""Run PneumoView from a source checkout: ``python main.py [PATH...]`` or ``python main.py info FILE``."""

import sys

from viewer.app import main

if __name__ == "__main__":
    sys.exit(main())
