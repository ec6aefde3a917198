"""First-start data shared by ``stockyard up`` and ``stockyard db upgrade``: users,
flavors, the default (and stockyard-tiny) image, the lab's regions and hosts (and the
local libvirt host), and ``clouds.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from stockyard.cli.clouds import choose_passwords, write_clouds_yaml
from stockyard.db.base import Database
from stockyard.db.models import Flavor, Region
from stockyard.settings import Settings

# DevStack's VM flavors, same names, ids and sizes: (name, id, vcpus, ram MB, disk GB).
# m1.nano and m1.micro are those DevStack makes for Tempest (ids 42 and 84).
DEFAULT_FLAVORS = (
    ("m1.nano", "42", 1, 128, 1),
    ("m1.micro", "84", 1, 192, 1),
    ("m1.tiny", "1", 1, 512, 1),
    ("m1.small", "2", 1, 2048, 20),
    ("m1.medium", "3", 2, 4096, 40),
    ("m1.large", "4", 4, 8192, 80),
)


async def seed_cloud(settings: Settings, db: Database) -> Path:
    """Seed users, flavors and the default image (idempotent); write ``clouds.yaml``.

    Returns the path of ``clouds.yaml``. Call after the schema is at head.
    """
    from stockyard.identity.bootstrap import bootstrap
    from stockyard.image.defaults import register_default_image
    from stockyard.image.store import ImageStore
    from stockyard.image.tiny import register_tiny_image

    admin_pw, demo_pw = choose_passwords(settings)
    async with db.session() as session:
        seeded = await bootstrap(session, admin_pw, demo_pw)
        await _seed_flavors(session)
        store = ImageStore(settings.data_dir / "images")
        await register_default_image(session, store, seeded.admin_project_id)
        # The bootable image for libvirt hosts, when it was built (tiny_image_path).
        await register_tiny_image(session, store, seeded.admin_project_id, settings.tiny_image_path)
    regions = await load_regions(db)
    return write_clouds_yaml(settings, admin_pw, demo_pw, regions[0]).resolve()


async def _seed_flavors(session: Any) -> None:
    """Add the flavors that are missing; a name or id already taken (say, an operator's
    own m1.small) is left alone, so a restart never fails nor changes a flavor."""
    for name, flavorid, vcpus, ram, disk in DEFAULT_FLAVORS:
        taken = await session.scalar(
            select(Flavor.id).where(or_(Flavor.name == name, Flavor.flavorid == flavorid))
        )
        if taken is None:
            session.add(Flavor(flavorid=flavorid, name=name, vcpus=vcpus, ram=ram, disk=disk))
    await session.flush()


async def enroll_lab(settings: Settings, db: Database) -> Any:
    """Upsert the lab's regions and hosts (``lab_file``); return the loaded lab.

    Enrollment needs database credentials, which agents never hold: it is done by
    ``stockyard up``, ``stockyard db upgrade`` and ``stockyard lab enroll``.
    """
    from stockyard.lab.enroll import enroll
    from stockyard.lab.libvirt_host import local_hypervisors
    from stockyard.lab.model import load_lab

    lab = load_lab(settings.lab_file)
    async with db.session() as session:
        # This machine's libvirt hypervisor too, when libvirt_uri is set.
        await enroll(session, lab, settings, extra=local_hypervisors(lab, settings))
    return lab


async def load_regions(db: Database) -> list[str]:
    """Region ids from the ``regions`` table (``RegionOne`` when empty)."""
    async with db.session() as session:
        return list((await session.scalars(select(Region.id))).all()) or ["RegionOne"]
