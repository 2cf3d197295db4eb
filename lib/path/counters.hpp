// What the path core dropped or did, for hosts' metrics and for tests (every drop is counted: ARCHITECTURE.md).
#pragma once

#include <cstdint>

namespace derp::path {

struct Counters {
  std::uint64_t disco_unknown_sender = 0;   // disco from a disco key we cannot tie to a known peer: dropped
  std::uint64_t disco_open_failed = 0;      // box did not open (stale key, corruption, spoofing): dropped
  std::uint64_t disco_parse_failed = 0;     // opened but disco.Parse refused it (short, unknown type): dropped
  std::uint64_t disco_wrong_transport = 0;  // a CallMeMaybe over UDP (DERP only), or disco over DERP from a node
                                            // key whose disco key is another: ignored
  std::uint64_t pong_unmatched = 0;         // no outstanding ping with that TxID (late, duplicate or forged)
  std::uint64_t pong_stale = 0;             // a Pong for a ping to an address that is no longer a candidate
  std::uint64_t pings_sent = 0, pongs_sent = 0, call_me_maybe_sent = 0;
  std::uint64_t pings_received = 0, pongs_received = 0, call_me_maybe_received = 0;
  std::uint64_t announcements_sent = 0, announcements_received = 0;
  std::uint64_t announcements_rejected = 0;  // did not open, malformed, unknown node with learn_peers off, or
                                             // contradicting a disco key the host set
  std::uint64_t data_sent_direct = 0, data_sent_derp = 0;
  std::uint64_t data_received_direct = 0, data_received_derp = 0;
  std::uint64_t data_unknown_source = 0;  // a UDP datagram from an ip:port no peer is known at: dropped
  std::uint64_t data_open_failed = 0;     // a sealed datagram that did not open with its source's peer key: dropped
  std::uint64_t data_too_large = 0;
  std::uint64_t queue_full_drops = 0;     // an output or event queue was at max_queued
  std::uint64_t peers_refused = 0;        // past max_peers
  std::uint64_t candidates_evicted = 0;   // a ping-learned candidate pushed out to stay under max_candidates
  std::uint64_t path_changes = 0;
};

}  // namespace derp::path
