"""Aggregate image pre-caching on one host (``POST /os-aggregates/{id}/images``, 2.81).

The API sends a :class:`~stockyard.bus.contract.CacheImagesRequest` to the agent of each
host in the aggregate and answers 202 at once; the agent asks its driver to fetch each
image into its cache. Nova reports per-host progress as notifications; here one log line
per host says what became of each image (``cached``, ``existing``, ``error`` or
``unsupported``), which is what an operator looks at.
"""

from __future__ import annotations

import asyncio
import logging

from stockyard.bus import contract
from stockyard.compute.drivers.base import ComputeDriver, DriverError, DriverNotSupported

log = logging.getLogger(__name__)


async def cache_images(
    driver: ComputeDriver, host: str, msg: contract.CacheImagesRequest
) -> dict[str, str]:
    """Cache ``msg.image_ids`` on ``driver``; each image's outcome, also logged."""
    outcome: dict[str, str] = {}
    for image_id in msg.image_ids:
        try:
            outcome[image_id] = "cached" if await driver.cache_image(image_id) else "existing"
        except DriverNotSupported:
            # As Nova: a driver without an image cache answers for the whole request.
            log.warning(
                "host %s: driver %s does not support image pre-caching; ignored the request "
                "for aggregate %s",
                host,
                driver.name,
                msg.aggregate_id,
            )
            return {i: "unsupported" for i in msg.image_ids}
        except DriverError as exc:
            log.warning("host %s: could not cache image %s: %s", host, image_id, exc.message)
            outcome[image_id] = "error"
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("host %s: driver %s failed caching %s", host, driver.name, image_id)
            outcome[image_id] = "error"
    log.info(
        "host %s: image pre-cache for aggregate %s done: %s",
        host,
        msg.aggregate_id,
        ", ".join(f"{i} {state}" for i, state in outcome.items()),
    )
    return outcome
