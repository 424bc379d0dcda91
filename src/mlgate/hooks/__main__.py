"""``python -m mlgate.hooks ...`` is ``python -m mlgate hooks ...`` (kept for one release for
process supervisors that run this module). It replaces this process with ``python -m mlgate``
instead of importing the CLI: library packages never import the entry-point layer."""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "mlgate", "hooks", *sys.argv[1:]])  # noqa: S606
