"""``python -m stockyard.hwmgr``: one region's hwmgr until SIGINT/SIGTERM.

Settings come from ``STOCKYARD_HWMGR_*``; ``STOCKYARD_HWMGR_LAB_INSTALLER=1`` answers every
PXE boot with the emulated installer (lab use).
"""

from __future__ import annotations

import asyncio
import logging
import os

from stockyard.hwmgr.service import main
from stockyard.hwmgr.settings import HwmgrSettings

if __name__ == "__main__":
    settings = HwmgrSettings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    lab = os.environ.get("STOCKYARD_HWMGR_LAB_INSTALLER", "") not in ("", "0", "false")
    asyncio.run(main(settings, lab_installer=lab))
