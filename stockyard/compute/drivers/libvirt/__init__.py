"""The libvirt compute driver (QEMU/KVM, TCG where KVM is unusable).

Split: ``domain`` builds the domain XML, ``configdrive`` the OpenStack config drive,
``storage`` the base-image cache and qcow2 overlays, ``host`` probes the host,
``connection`` holds the connection and domain helpers, ``ports``, ``power`` and
``volumes`` the verbs of their kind, ``driver`` the rest of the ``ComputeDriver``
contract. ``libvirt-python`` is imported only in this package.
"""

from stockyard.compute.drivers.libvirt.driver import LibvirtDriver

__all__ = ["LibvirtDriver"]
