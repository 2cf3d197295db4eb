import socket

import pytest

import derp


def _map(*stun_ports):
    regions = {}
    for i, port in enumerate(stun_ports, start=1):
        regions[str(i)] = {"RegionID": i, "RegionCode": f"r{i}", "RegionName": f"Region {i}", "Nodes": [
            {"Name": f"{i}a", "RegionID": i, "HostName": "127.0.0.1", "IPv4": "127.0.0.1", "IPv6": "none",
             "STUNPort": port, "STUNOnly": True}]}
    return {"Regions": regions}


def test_netcheck_against_our_stun_server():
    with derp.Server(address="127.0.0.1:0") as srv:
        report = derp.netcheck(_map(srv.stun_address[1]), timeout=3, ipv6=False)
    assert report.udp and report.ipv4
    assert report.global_v4 is not None and report.global_v4[0] == "127.0.0.1"
    assert report.preferred_region == 1
    assert report.regions[1].code == "r1" and report.regions[1].latency is not None
    assert report.regions[1].latency > 0
    # One server IP answered: whether the mapping varies by destination cannot be known.
    assert report.mapping_varies_by_dest_ip is None


def test_netcheck_silent_region_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        report = derp.netcheck(_map(silent.getsockname()[1]), timeout=0.3, ipv6=False)
    assert not report.udp and report.global_v4 is None and report.preferred_region is None
    assert report.regions[1].latency is None


def test_netcheck_bad_map():
    with pytest.raises(derp.DerpError) as info:
        derp.netcheck("{not json")
    assert info.value.name == "BAD_JSON"
