"""derp.netcheck(): probe a DERPMap's STUN servers and report public addresses, hard NAT, latency per region and
the preferred (home) region (derp_uv_netcheck_run, which runs its own private loop and blocks the calling thread)."""
from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple, Union

from ._lib import Addr, declare_optional, lib
from .errors import Unsupported, check
from .stun import addr_to_tuple

c_int, c_size_t, c_uint32, c_int64 = ctypes.c_int, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_int64
MAX_REGIONS = 64


class _Options(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("timeout_ms", c_uint32), ("ipv4", c_int), ("ipv6", c_int),
                ("tries", c_uint32), ("retry_interval_ms", c_uint32), ("enough_regions", c_uint32),
                ("previous_home", c_int), ("previous_home_active", c_int)]


class _Region(ctypes.Structure):
    _fields_ = [("region_id", c_int), ("region_code", ctypes.c_char * 32), ("region_name", ctypes.c_char * 64),
                ("latency_us", c_int64), ("latency_v4_us", c_int64), ("latency_v6_us", c_int64)]


class _Report(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("udp", c_int), ("ipv4", c_int), ("ipv6", c_int), ("global_v4", Addr),
                ("global_v6", Addr), ("mapping_varies_by_dest_ip", c_int), ("preferred_region", c_int),
                ("timed_out", c_int), ("region_count", c_size_t), ("regions_truncated", c_int),
                ("regions", _Region * MAX_REGIONS)]


_HAVE = all([
    declare_optional("derp_netcheck_options_init", c_int, ctypes.POINTER(_Options), c_size_t),
    declare_optional("derp_netcheck_report_init", c_int, ctypes.POINTER(_Report), c_size_t),
    declare_optional("derp_uv_netcheck_run", c_int, ctypes.c_char_p, c_size_t, ctypes.POINTER(_Options),
                     ctypes.POINTER(_Report)),
])


@dataclass(frozen=True)
class RegionLatency:
    """One region's STUN round trips, in float seconds; None when that family got no answer."""

    region_id: int
    code: str
    name: str
    latency: Optional[float]     # seconds, best of IPv4 and IPv6; None when no answer
    latency_v4: Optional[float]
    latency_v6: Optional[float]


@dataclass(frozen=True)
class NetcheckReport:
    """What one netcheck found. Addresses are (ip, port) tuples or None; `regions` maps region id → RegionLatency
    for every region probed; `preferred_region` is None when no region answered."""

    udp: bool                                  # some STUN round trip completed
    ipv4: bool
    ipv6: bool
    global_v4: Optional[Tuple[str, int]]       # public IPv4 (ip, port)
    global_v6: Optional[Tuple[str, int]]
    mapping_varies_by_dest_ip: Optional[bool]  # True: hard NAT; None: unknown (fewer than two servers answered)
    preferred_region: Optional[int]
    timed_out: bool
    regions: Dict[int, RegionLatency] = field(default_factory=dict)
    regions_truncated: bool = False


def _seconds(us: int) -> Optional[float]:
    return None if us < 0 else us / 1e6


def netcheck(derpmap: Union[str, bytes, dict], *, timeout: float = 3.0, ipv4: bool = True, ipv6: bool = True,
             tries: int = 3, previous_home: int = 0) -> NetcheckReport:
    """Runs one netcheck against a DERPMap (its JSON text, or a dict) and returns the report. Blocks for at most
    about `timeout` seconds (a DNS lookup still running may add the resolver's own time). Raises DerpError for a
    DERPMap that does not parse (BAD_JSON) or bad arguments."""
    if not _HAVE:
        raise Unsupported("this libderp has no netcheck API (derp_netcheck_*)")
    if isinstance(derpmap, dict):
        derpmap = json.dumps(derpmap)
    data = derpmap.encode() if isinstance(derpmap, str) else bytes(derpmap)
    opts = _Options()
    check(lib.derp_netcheck_options_init(ctypes.byref(opts), ctypes.sizeof(opts)), "netcheck options")
    opts.timeout_ms = int(timeout * 1000)
    opts.ipv4, opts.ipv6, opts.tries, opts.previous_home = int(ipv4), int(ipv6), tries, previous_home
    report = _Report()
    check(lib.derp_netcheck_report_init(ctypes.byref(report), ctypes.sizeof(report)), "netcheck report")
    check(lib.derp_uv_netcheck_run(data, len(data), ctypes.byref(opts), ctypes.byref(report)), "netcheck")
    regions = {}
    for r in report.regions[: report.region_count]:
        regions[r.region_id] = RegionLatency(r.region_id, r.region_code.decode(errors="replace"),
                                             r.region_name.decode(errors="replace"), _seconds(r.latency_us),
                                             _seconds(r.latency_v4_us), _seconds(r.latency_v6_us))
    varies = {1: True, 0: False}.get(report.mapping_varies_by_dest_ip)
    return NetcheckReport(
        udp=bool(report.udp), ipv4=bool(report.ipv4), ipv6=bool(report.ipv6),
        global_v4=addr_to_tuple(report.global_v4) if report.global_v4.family else None,
        global_v6=addr_to_tuple(report.global_v6) if report.global_v6.family else None,
        mapping_varies_by_dest_ip=varies, preferred_region=report.preferred_region or None,
        timed_out=bool(report.timed_out), regions=regions, regions_truncated=bool(report.regions_truncated))
