"""Image service: the file store, formats and the default image (access rules for API
callers live in ``stockyard.api.image.access``)."""

from stockyard.image.defaults import DEFAULT_IMAGE_ID, DEFAULT_IMAGE_NAME, register_default_image
from stockyard.image.store import ImageStore, StoredData

__all__ = [
    "DEFAULT_IMAGE_ID",
    "DEFAULT_IMAGE_NAME",
    "ImageStore",
    "StoredData",
    "register_default_image",
]
