"""What the hwmgr routes share: settings, database, secret box, runner, image cache."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from stockyard.db.base import Database
from stockyard.hwmgr.bmcport import BMCFactory, default_bmc_factory
from stockyard.hwmgr.crypto import SecretBox
from stockyard.hwmgr.images import ImageCache
from stockyard.hwmgr.settings import HwmgrSettings
from stockyard.hwmgr.tasks.runner import TaskRunner


@dataclass
class HwmgrState:
    """One per hwmgr process; ``create_app`` puts it on ``app.state.hwmgr``."""

    settings: HwmgrSettings
    db: Database
    box: SecretBox
    images: ImageCache
    runner: TaskRunner
    bmc_factory: BMCFactory = default_bmc_factory
    host_id: str = field(default_factory=socket.gethostname)
