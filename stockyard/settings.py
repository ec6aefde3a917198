"""One settings object for every Stockyard process.

Values come from (highest first) environment variables ``STOCKYARD_*``, the YAML file named
by ``STOCKYARD_CONFIG`` (default ``stockyard.yaml`` in the working directory, if present) and
the defaults below. Every field is documented in the README.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the settings file; a missing default file is not an error."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = Path(os.environ.get("STOCKYARD_CONFIG", "stockyard.yaml"))
        self._data: dict[str, Any] = {}
        if path.is_file():
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: settings file must hold a mapping")
            self._data = loaded

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class DatabasePoolSettings(BaseSettings):
    """How many database connections one process may hold: the pool fields of
    :class:`Settings` and of hwmgr's settings.

    Every process of a deployment (each API worker, scheduler, conductor, volume service,
    hwmgr) has its own pool, and the server counts them all: PostgreSQL refuses past
    ``max_connections - superuser_reserved_connections`` (97 of a default 100), MariaDB
    past ``max_connections`` (151). Keep ``processes x (pool size + overflow)`` under
    that; a refusal is retried like a lost connection (``db.retry``), but a cloud that
    lives on retries is slow. SQLite ignores these (one process, its own fixed pool).
    """

    database_pool_size: int = Field(
        default=5, ge=1, description="connections a process keeps open (server databases)"
    )
    database_max_overflow: int = Field(
        default=10, ge=0, description="connections opened past the pool under load, then closed"
    )
    database_pool_timeout_seconds: float = Field(
        default=30.0, gt=0, description="how long a transaction waits for a free connection"
    )

    def database_engine_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~stockyard.db.base.Database`."""
        return {
            "pool_size": self.database_pool_size,
            "max_overflow": self.database_max_overflow,
            "pool_timeout": self.database_pool_timeout_seconds,
        }


class Settings(DatabasePoolSettings):
    """Stockyard configuration (file + environment)."""

    model_config = SettingsConfigDict(env_prefix="STOCKYARD_", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="SQLite file, images, keys")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default sqlite+aiosqlite in data_dir"
    )
    bus_url: str = Field(default="memory://", description="memory:// or amqp://user:pw@host/")
    bus_prefix: str = Field(
        default="stockyard", description="RabbitMQ queue name prefix (several clouds, one vhost)"
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8774
    # uvicorn's own default (5 s) equals the openstack CLI's poll interval (``--wait``
    # sleeps 5 s), so the server closed the idle connection just as the client reused it
    # and the CLI failed with "Remote end closed connection". Nova's eventlet server keeps
    # idle connections for 900 s; a value well above any client's poll interval is enough.
    api_keep_alive_seconds: int = Field(
        default=75, ge=1, description="How long an idle HTTP keep-alive connection stays open"
    )
    public_url: str | None = Field(
        default=None, description="Base URL put in the service catalog; default from host/port"
    )
    lab_file: Path | None = Field(default=None, description="Lab YAML; default: the shipped lab")
    lab_baremetal_agent: bool = Field(
        default=True,
        description="`up` runs the lab's baremetal agent in-process; false: a separate "
        "`stockyard baremetal-agent` does (hwmgr's URL and token: <data_dir>/hwmgr/<region>/"
        "endpoint.json)",
    )
    hwmgr_endpoints_dir: Path | None = Field(
        default=None,
        description="where the API finds each region's hwmgr (<dir>/<region>/endpoint.json, "
        "as `up` writes them) for the admins' node states and tasks; default data_dir/hwmgr",
    )
    hwmgr_url: str | None = Field(
        default=None,
        description="this region's hwmgr for the API's node states and tasks (with "
        "hwmgr_token, env STOCKYARD_HWMGR_TOKEN as the baremetal agent's); endpoint files "
        "in hwmgr_endpoints_dir add other regions",
    )
    hwmgr_token: SecretStr | None = Field(default=None, description="hwmgr's service token")
    hwmgr_region: str = Field(default="RegionOne", description="the region of hwmgr_url")
    hwmgr_read_timeout_seconds: float = Field(
        default=5.0, gt=0, description="how long the API waits for one region's hwmgr"
    )
    token_ttl_seconds: int = Field(default=3600, ge=60)
    admin_password: SecretStr | None = Field(
        default=None, description="first-start admin password; default: random, in clouds.yaml"
    )
    demo_password: SecretStr | None = Field(
        default=None, description="first-start demo password; default: random, in clouds.yaml"
    )
    weigher_strategy: Literal["spread", "pack"] = "spread"
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    build_timeout_seconds: int = Field(default=300, description="BUILD longer than this fails")
    lease_seconds: int = Field(default=30, description="how long a conductor owns a task")
    reconcile_interval_seconds: float = 5.0
    max_build_attempts: int = Field(default=3, ge=1, description="spawn tries incl. reschedules")
    fake_boot_seconds: float = Field(default=0.2, description="emulated hypervisor boot time")
    quota_instances: int = 10
    quota_cores: int = 20
    quota_ram: int = 51200
    quota_key_pairs: int = 100
    quota_server_groups: int = 10
    quota_server_group_members: int = 10
    quota_metadata_items: int = 128
    log_level: str = "INFO"
    log_json: bool = Field(default=False, description="log lines as JSON objects")
    scheduler_refresh_seconds: float = Field(
        default=5.0, gt=0, description="how often a scheduler reloads host states from the DB"
    )
    scheduler_max_candidates: int = Field(
        default=1000,
        ge=0,
        description="hosts weighed at most for a VM request without a group (0: all)",
    )
    scheduler_burst_max: int = Field(
        default=500,
        ge=1,
        description="instances a scheduler places at most in one pass and one transaction",
    )
    libvirt_uri: str | None = Field(
        default=None,
        description="libvirt URI of this machine's hypervisor (qemu:///system); unset: none",
    )
    libvirt_host: str = Field(
        default_factory=socket.gethostname,
        description="hypervisor name of the libvirt host (default: this machine's hostname)",
    )
    libvirt_network: str | None = Field(
        default=None,
        description="libvirt network (NAME or bridge:BRIDGE); unset: user-mode NIC, ssh on "
        "a 127.0.0.1 port forward",
    )
    libvirt_virt_type: Literal["auto", "kvm", "qemu"] = Field(
        default="auto", description="kvm, qemu (TCG) or auto (KVM where /dev/kvm is usable)"
    )
    libvirt_az: str = Field(default="az1", description="availability zone of the libvirt host")
    libvirt_rack: str = Field(default="local", description="rack of the libvirt host")
    tiny_image_path: Path | None = Field(
        default=None,
        # The name CI and images/README.md use; the prefixed field name works too.
        validation_alias=AliasChoices(
            "tiny_image_path", "STOCKYARD_TINY_IMAGE", "STOCKYARD_TINY_IMAGE_PATH"
        ),
        description="stockyard-tiny image file registered at start (public) when it exists",
    )
    console_timeout_seconds: float = Field(
        default=10.0, gt=0, description="how long the API waits for a host's console output"
    )
    volume_dir: Path | None = Field(
        default=None, description="file volume backend: its directory (default data_dir/volumes)"
    )
    volume_file_format: Literal["qcow2", "raw"] = Field(
        default="qcow2", description="file volume backend: image format of new volumes"
    )
    volume_backends: dict[str, str] = Field(
        default_factory=lambda: {"file": "file"},
        description="volume backends the volume role serves: backend name -> driver (file, lvm)",
    )
    volume_lvm_group: str = Field(
        default="stockyard-volumes", description="lvm volume backend: its volume group"
    )
    volume_lvm_clear: Literal["zero", "none"] = Field(
        default="zero", description="lvm volume backend: zero a volume's extents on delete"
    )
    volume_detach_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=60.0,
        description=(
            "how long a libvirt host waits for a guest to release a detached volume (the"
            " conductor's lease on a detach op is this plus lease_seconds)"
        ),
    )
    volume_default_backend: str = Field(
        default="file", description="backend of volume types without volume_backend_name"
    )
    volume_availability_zone: str = Field(default="nova", description="volumes' zone")
    volume_task_timeout_seconds: int = Field(
        default=600, ge=1, description="a volume or snapshot -ing longer than this fails"
    )
    quota_volumes: int = 10
    quota_snapshots: int = 10
    quota_gigabytes: int = 1000
    quota_backups: int = 10
    quota_backup_gigabytes: int = 1000
    quota_groups: int = 10
    quota_per_volume_gigabytes: int = -1

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'stockyard.db').resolve()}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
