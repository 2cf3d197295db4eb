#!/usr/bin/env python3
"""Prints a netcheck report for a DERPMap: public addresses, easy or hard NAT, latency per region, home region.

    netcheck_report.py DERPMAP.json [--timeout S]
    netcheck_report.py --demo        a local server's STUN port as a one-region map
"""
import argparse
import json
import sys

import derp


def show(report: "derp.NetcheckReport") -> None:
    def endpoint(addr):
        return "-" if addr is None else (f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}")
    nat = {None: "unknown (needs answers from two STUN server IPs)", True: "hard (mapping varies by destination)",
           False: "easy (same mapping for every destination)"}[report.mapping_varies_by_dest_ip]
    print(f"UDP:              {'yes' if report.udp else 'no'}")
    print(f"public IPv4:      {endpoint(report.global_v4)}")
    print(f"public IPv6:      {endpoint(report.global_v6)}")
    print(f"NAT:              {nat}")
    print(f"preferred region: {report.preferred_region or '-'}")
    for rid, region in sorted(report.regions.items()):
        latency = "no answer" if region.latency is None else f"{region.latency * 1000:.3f} ms"
        print(f"  region {rid:>4} {region.code:<8} {latency}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("derpmap", nargs="?")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args()
    if args.demo:
        with derp.Server(address="127.0.0.1:0") as server:
            port = server.stun_address[1]
            derpmap = {"Regions": {"1": {"RegionID": 1, "RegionCode": "local", "Nodes": [
                {"Name": "1a", "RegionID": 1, "HostName": "127.0.0.1", "IPv4": "127.0.0.1", "IPv6": "none",
                 "STUNPort": port}]}}}
            show(derp.netcheck(derpmap, timeout=args.timeout))
        return 0
    if not args.derpmap:
        parser.error("give a DERPMap file or --demo")
    with open(args.derpmap) as f:
        show(derp.netcheck(json.load(f), timeout=args.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
