"""Where the tests find Chromium: one rule, which ``scripts/setup.sh --test`` applies too.

``DOSIRAK_TEST_CHROMIUM`` names the executable (a path, or a name on ``PATH``) when it is
set; otherwise it is the first ``chromium`` on ``PATH`` (Debian's ``chromium`` package puts it
there). Tests never download a browser. Run as a script (``python
tests/chromium.py``, as setup.sh does), it prints the path with status 0, or one line
saying why there is none with status 1.
"""

from __future__ import annotations

import os
import shutil
import sys

ENV_VAR = "DOSIRAK_TEST_CHROMIUM"
PROGRAM = "chromium"


def chromium_path() -> str:
    """The Chromium executable the browser tests drive.

    Raises:
        LookupError: there is none; the message says what to install or set.
    """
    configured = os.environ.get(ENV_VAR, "")
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise LookupError(f"{ENV_VAR}={configured} is not an executable file: point it at Chromium, "
                              f"or unset it to use `{PROGRAM}` on PATH")
        return found
    found = shutil.which(PROGRAM)
    if found is None:
        raise LookupError(f"{PROGRAM} is not on PATH: `apt-get install -y chromium` (`bash scripts/setup.sh "
                          f"--test` does), or set {ENV_VAR}=/path/to/chromium; tests never download a browser")
    return found


if __name__ == "__main__":
    try:
        print(chromium_path())
    except LookupError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
