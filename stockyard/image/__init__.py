"""Image service: the file store, access rules and the default image."""

from stockyard.image.access import get_visible_image
from stockyard.image.defaults import DEFAULT_IMAGE_ID, DEFAULT_IMAGE_NAME, register_default_image
from stockyard.image.store import ImageStore, StoredData

__all__ = [
    "DEFAULT_IMAGE_ID",
    "DEFAULT_IMAGE_NAME",
    "ImageStore",
    "StoredData",
    "get_visible_image",
    "register_default_image",
]
