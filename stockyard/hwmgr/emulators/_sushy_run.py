"""Entry point for the sushy-tools subprocess started by ``RedfishEmulator``.

sushy-tools' fake driver applies a power change 1-11 s after accepting it (a random
delay). ``STOCKYARD_SUSHY_POWER_DELAY`` (seconds, integer) fixes that delay so lab runs
and tests wait a known, short time; without it the upstream behaviour is kept.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    """Patch the fake driver's delay if asked, then run ``sushy-emulator``."""
    delay = os.environ.get("STOCKYARD_SUSHY_POWER_DELAY")
    if delay is not None:
        from sushy_tools.emulator.resources.systems import (  # type: ignore[import-untyped]
            fakedriver,
        )

        fixed = int(delay)

        class _FixedRandom:
            @staticmethod
            def randint(_a: int, _b: int) -> int:
                return fixed

        fakedriver.random = _FixedRandom
    from sushy_tools.emulator import main as emulator_main  # type: ignore[import-untyped]

    sys.argv = ["sushy-emulator", *sys.argv[1:]]
    result: int = emulator_main.main()
    return result


if __name__ == "__main__":
    sys.exit(main())
