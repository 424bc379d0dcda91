"""``python -m mlgate ...`` is ``mlgate ...`` (for process supervisors that run a module;
``python -m mlgate hooks worker`` replaces the former ``python -m mlgate.hooks worker``)."""

import sys

from mlgate.cli import main

if __name__ == "__main__":
    sys.exit(main())
