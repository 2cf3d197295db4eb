// The path core's settings. The timing defaults are magicsock's (Tailscale v1.36.2 wgengine/magicsock/magicsock.go,
// unchanged at HEAD, where upgradeInterval is called upgradeUDPDirectInterval; reference disco-protocol.md §7, §9.4;
// magicsock of 2023 had 2 s heartbeats, a 5 s trust and a 2 min session: older); the bounds are ours.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/time.hpp"

namespace derp::path {

struct Options {
  // Seal every direct-path data datagram with the pair's precomputed disco box key (on by default). A spoofed or
  // altered UDP datagram then fails to open and is dropped (counted). Off: data goes on the wire byte for byte as
  // the host gave it, as Tailscale sends WireGuard packets; the host's payload must then authenticate itself. Both
  // peers must use the same setting. Data over DERP is never sealed by this layer (DERP routes by node key).
  bool seal_data = true;

  // Learn a peer's disco key from its announcement over DERP (docs/disco-announce.md). A host that hands out
  // disco keys itself (set_peer_disco) may turn this off; a key the host set is never replaced by an announcement.
  bool accept_announcements = true;
  // Accept an announcement from a node key the host never added (the peer is then added, up to max_peers).
  bool learn_peers = true;

  // DERP region id written into the Pong Src of a Ping that came over DERP (magicsock: 127.3.3.40:<region>).
  std::uint16_t derp_region = 0;

  Nanos heartbeat_interval = 3 * kSecond;         // heartbeatInterval
  Nanos trust_duration = 6'500 * kMillisecond;    // trustUDPAddrDuration
  Nanos ping_timeout = 5 * kSecond;               // pingTimeoutDuration
  Nanos disco_ping_interval = 5 * kSecond;        // discoPingInterval
  Nanos session_active_timeout = 45 * kSecond;    // sessionActiveTimeout
  Nanos upgrade_interval = 60 * kSecond;          // upgradeInterval
  Nanos good_enough_latency = 5 * kMillisecond;   // goodEnoughLatency
  Nanos announce_interval = 5 * kSecond;          // ours: at most one disco announcement per peer per interval

  std::size_t max_peers = 1024;
  std::size_t max_candidates = 32;     // per peer; magicsock prunes past 100
  std::size_t max_pending_pings = 64;  // per peer
  std::size_t max_queued = 4096;       // per output queue (UDP, DERP, events); beyond it the item is dropped
  std::size_t max_data_len = 65536;    // largest data payload accepted from the host or the wire
};

}  // namespace derp::path
