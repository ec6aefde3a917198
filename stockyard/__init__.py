"""Stockyard: a private-cloud control plane with an OpenStack-compatible API."""

__version__ = "0.1.0"
