"""What a guest learns of its ports: network_data.json (Nova's format) and its NICs."""

from __future__ import annotations

import json
from pathlib import Path

from stockyard.compute.drivers.libvirt.configdrive import write_tree
from stockyard.compute.drivers.libvirt.domain import (
    DomainConfig,
    PortNic,
    build_domain_xml,
    interface_of_tap,
    port_taps,
)
from stockyard.compute.netdp.netdata import network_data
from tests.libvirt.conftest import make_spec

PORT = {
    "id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "network_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
    "mac_address": "FA:16:3E:AA:BB:CC",
    "mtu": 1450,
    "fixed_ips": [
        {
            "subnet_id": "s4",
            "ip_address": "10.0.0.5",
            "cidr": "10.0.0.0/24",
            "gateway_ip": "10.0.0.1",
            "dns_nameservers": ["10.0.0.2"],
            "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}],
        },
        {"subnet_id": "s6", "ip_address": "fd00::5", "cidr": "fd00::/64", "version": 6},
    ],
}


def test_network_data_in_novas_format() -> None:
    doc = network_data(make_spec(ports=[PORT]).ports)
    assert doc["links"] == [
        {
            "id": "tap0a1b2c3d-4e",
            "vif_id": PORT["id"],
            "type": "tap",
            "mtu": 1450,
            "ethernet_mac_address": "fa:16:3e:aa:bb:cc",
        }
    ]
    v4, v6 = doc["networks"]
    assert v4 == {
        "id": "network0",
        "type": "ipv4",
        "link": "tap0a1b2c3d-4e",
        "ip_address": "10.0.0.5",
        "netmask": "255.255.255.0",
        "routes": [
            {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
            {"network": "192.168.0.0", "netmask": "255.255.0.0", "gateway": "10.0.0.254"},
        ],
        "network_id": PORT["network_id"],
        "services": [{"type": "dns", "address": "10.0.0.2"}],
    }
    assert v6["type"] == "ipv6"
    assert v6["netmask"] == "ffff:ffff:ffff:ffff::"
    assert v6["routes"] == []
    assert doc["services"] == [{"type": "dns", "address": "10.0.0.2"}]


def test_config_drive_carries_network_data(tmp_path: Path) -> None:
    write_tree(make_spec(ports=[PORT]), tmp_path)
    doc = json.loads((tmp_path / "openstack/latest/network_data.json").read_text())
    assert doc["links"][0]["ethernet_mac_address"] == "fa:16:3e:aa:bb:cc"
    # An instance without ports still gets the file, empty (as Nova writes it).
    write_tree(make_spec(), tmp_path / "none")
    empty = json.loads((tmp_path / "none/openstack/latest/network_data.json").read_text())
    assert empty == {"links": [], "networks": [], "services": []}


def test_port_nics_follow_the_management_nic_on_their_taps() -> None:
    cfg = DomainConfig(
        instance_uuid="6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b",
        display_name="vm1",
        vcpus=1,
        memory_mb=256,
        root_disk=Path("/d/disk.qcow2"),
        console_log=Path("/d/console.log"),
        ssh_port=40022,
        ports=[
            PortNic("tap0a1b2c3d-4e", "FA:16:3E:AA:BB:CC", 1450),
            PortNic("tap11", "fa:16:3e:00:00:11"),
        ],
    )
    xml = build_domain_xml(cfg)
    assert port_taps(xml) == ["tap0a1b2c3d-4e", "tap11"]
    iface = interface_of_tap(xml, "tap0a1b2c3d-4e")
    assert iface is not None
    assert 'type="ethernet"' in iface
    assert 'managed="no"' in iface
    assert "fa:16:3e:aa:bb:cc" in iface
    assert 'size="1450"' in iface
    assert interface_of_tap(xml, "tap-missing") is None
