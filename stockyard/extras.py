"""Optional drivers and the ``pip install 'stockyard[<extra>]'`` that brings them.

A database or bus URL may name a driver that only an extra installs (``prod``:
asyncpg, aiomysql, aio-pika). :func:`driver_import` turns the ``ModuleNotFoundError``
of such a driver into :class:`MissingExtra`, whose message is one line naming the
extra; the ``stockyard`` command prints it instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Top-level module -> the extra of pyproject.toml that installs it.
DRIVER_EXTRAS: dict[str, str] = {
    "asyncpg": "prod",
    "aiomysql": "prod",
    "pymysql": "prod",
    "aio_pika": "prod",
    "aiormq": "prod",
    "pamqp": "prod",
    "libvirt": "libvirt",
}


class MissingExtra(RuntimeError):
    """A configured URL needs a driver that is not installed."""

    def __init__(self, what: str, module: str, extra: str) -> None:
        self.what = what
        self.module = module
        self.extra = extra
        super().__init__(
            f"{what} needs the Python package {module!r}, which is not installed: "
            f"pip install 'stockyard[{extra}]'"
        )


def url_scheme(url: str) -> str:
    """``postgresql+asyncpg://u:p@h/db`` -> ``postgresql+asyncpg://`` (no credentials)."""
    return url.split("://", 1)[0] + "://" if "://" in url else url.split(":", 1)[0]


@contextmanager
def driver_import(what: str) -> Iterator[None]:
    """Re-raise a missing optional driver inside the block as :class:`MissingExtra`.

    ``what`` names the setting, e.g. ``"database_url postgresql+asyncpg://"``; a missing
    module that no extra provides propagates unchanged.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        module = (exc.name or "").split(".", 1)[0]
        extra = DRIVER_EXTRAS.get(module)
        if extra is None:
            raise
        raise MissingExtra(what, module, extra) from exc
