"""Put on PYTHONPATH for the openstack.cloud modules by host-aggregates.yml.

openstack.cloud 2.5.0 (the newest in the ``ansible`` package) reads
``openstack.version.__version__`` right after ``import openstack``; recent openstacksdk
releases no longer import that submodule with the package, so every module fails with
"module 'openstack' has no attribute 'version'". Importing it here, at interpreter start,
restores what the collection expects. Harmless where openstacksdk is absent or old.
"""

try:
    import openstack.version  # noqa: F401
except ImportError:
    pass
