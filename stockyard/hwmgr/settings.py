"""Settings of the hardware manager (one hwmgr per region).

Environment variables ``STOCKYARD_HWMGR_*`` override the defaults; ``STOCKYARD_HWMGR_TOKEN``
is the static service token, ``STOCKYARD_HWMGR_SECRET_KEY`` the Fernet key that encrypts
BMC passwords (default: a key file generated under ``data_dir`` with mode 0600).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from stockyard.settings import DatabasePoolSettings


class HwmgrSettings(DatabasePoolSettings):
    """hwmgr configuration."""

    model_config = SettingsConfigDict(env_prefix="STOCKYARD_HWMGR_", extra="ignore")

    region: str = "RegionOne"
    data_dir: Path = Field(default=Path("./data/hwmgr"), description="DB, image cache, key")
    database_url: str | None = Field(default=None, description="default: SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = Field(default=6385, ge=0, le=65535, description="0 = any free port")
    public_url: str | None = Field(
        default=None, description="base URL installers reach; default: the request's own URL"
    )
    token: SecretStr = Field(
        default=SecretStr(""), description="static service token; empty = refuse every caller"
    )
    secret_key: SecretStr | None = Field(default=None, description="Fernet key (urlsafe b64)")
    install_deadline_seconds: float = Field(default=600.0, gt=0)
    max_concurrent_tasks: int = Field(default=100, ge=1, description="BMC steps run at once")
    power_timeout_seconds: float = Field(default=60.0, gt=0)
    bmc_call_timeout_seconds: float = Field(
        default=20.0, gt=0, description="one BMC request; an unresponsive BMC fails after it"
    )
    bmc_attempts: int = Field(default=3, ge=1, description="tries of a BMC request, with backoff")
    lock_lease_seconds: float = Field(default=120.0, gt=0)
    power_sync_interval_seconds: float = Field(
        default=60.0, ge=0, description="read idle nodes' power from their BMCs; 0 = never"
    )
    power_sync_workers: int = Field(
        default=8, ge=1, description="BMC reads of the power sync in flight at once"
    )
    installer_kernel_url: str = "http://127.0.0.1/installer/vmlinuz"
    installer_initrd_url: str = "http://127.0.0.1/installer/initrd.img"
    log_level: str = "INFO"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hwmgr.db').resolve()}"

    @property
    def image_cache_dir(self) -> Path:
        return self.data_dir / "images"
