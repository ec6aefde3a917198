"""Networking v2 service logic (Neutron-compatible): IPAM, networks, subnets, ports,
security groups and quotas. Knows no HTTP: errors are :mod:`stockyard.network.errors`."""
