"""The libvirt compute driver (QEMU/KVM, TCG where KVM is unusable).

Split: ``domain`` builds the domain XML, ``configdrive`` the OpenStack config drive,
``storage`` the base-image cache and qcow2 overlays, ``host`` probes the host, ``driver``
implements the ``ComputeDriver`` contract. ``libvirt-python`` is imported only here.
"""

from stockyard.compute.drivers.libvirt.driver import LibvirtDriver

__all__ = ["LibvirtDriver"]
