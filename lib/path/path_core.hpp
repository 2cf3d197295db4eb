// The path core: one per local node, sans-IO (ARCHITECTURE.md). It decides, per peer, whether data goes over DERP
// or a direct UDP path, in Tailscale's disco wire format and with magicsock's rules (reference disco-protocol.md
// §4-§6; Tailscale wgengine/magicsock/{magicsock,endpoint}.go):
//
//   - every peer starts on DERP; data flows from the first packet;
//   - a "round" pings every candidate of the peer over UDP (at most once per candidate per 5 s) and sends the peer
//     a CallMeMaybe with our own endpoints over DERP, so it pings us back through the holes our pings opened;
//   - candidates come from CallMeMaybe (replaced by the next one) and from the sources of Pings we receive
//     (forgotten 45 s after the last Ping from them);
//   - a Pong (matched by TxID, 5 s timeout) measures the latency of the address that was pinged (ignored when that
//     address is no longer a candidate); the best address (betterAddr's points: latency, then loopback, link-local,
//     private and IPv6 bonuses, with 1 % stickiness) becomes the direct path and is trusted for 6.5 s after each
//     Pong from it; a candidate that goes (left out of the next CallMeMaybe, or expired) takes the path with it;
//   - while data is sent, a heartbeat every 3 s pings the best address, and runs a new round when the trust ran
//     out or (every minute) when the path is slower than 5 ms; after 45 s without data it goes quiet;
//   - when Pongs stop, the trust runs out and data falls back to DERP (event: path derp); a new Pong brings the
//     direct path back;
//   - new local endpoints (set_local_endpoints) clear every peer's trust, so the next data re-discovers.
//
// Where we differ from magicsock, on purpose:
//   - Without a trusted path, data goes over DERP only (magicsock sends it both ways once a best address exists;
//     WireGuard drops the duplicate, but a host without replay protection would see it twice).
//   - A CallMeMaybe is sent with every round that is due, even when the peer has no candidate to ping yet (there
//     is no control plane handing out endpoints here, so the first CallMeMaybe is how a peer learns any).
//   - A Ping, while the peer has no trusted path, is answered with a Ping back to its source at once (at most once
//     per 5 s per source; magicsock waits for its next round): the Ping proves the hole is open now, and our own
//     earlier Ping may have been dropped by the peer's NAT before it had one.
//   - Pings go over UDP only (no DERP-path pings: a Pong over DERP never changes the path anyway).
//
// Host loop:
//   core.add_peer(node_key) (+ set_peer_disco(node_key, disco_key) when the host knows it)
//   core.set_local_endpoints(STUN address + interface addresses of the UDP socket, now), and again on change
//   core.send(peer, bytes, now) for data; core.receive_udp(from, bytes, now) for every datagram of the socket
//   that is not STUN; core.receive_derp(src, bytes, now) for every DERP packet
//   then drain: take_udp() → sendto; take_derp() → DERP SendPacket; take_event() → data and path changes
//   arm a timer at next_deadline(); when it fires, tick(now)
//
// Bounds: peers, candidates, pending pings and every output queue are capped (Options); what does not fit is
// dropped and counted. Randomness (TxIDs, nonces) comes from the caller's Random.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/bytes.hpp"
#include "common/time.hpp"
#include "crypto/box.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "disco/message.hpp"
#include "path/counters.hpp"
#include "path/options.hpp"

namespace derp::path {

// Fills the buffer with unpredictable bytes (a CSPRNG in production; a seeded generator in tests).
using Random = std::function<void(MutableBytes)>;

enum class Via : std::uint8_t { kDerp = 0, kDirect = 1 };

struct UdpOut {
  derp_addr to{};
  std::vector<std::uint8_t> bytes;
};

struct DerpOut {
  crypto::NodePublic to;  // destination node key
  std::vector<std::uint8_t> bytes;
};

struct Event {
  enum class Kind : std::uint8_t { kData, kPathChanged } kind = Kind::kData;
  crypto::NodePublic peer;
  Via via = Via::kDerp;      // kData: the path it arrived on; kPathChanged: the new path
  derp_addr addr{};          // kData via direct: the source; kPathChanged to direct: the peer's address
  Nanos rtt = 0;             // kPathChanged to direct: the latency measured by the Pong
  std::vector<std::uint8_t> data;  // kData
};

// What a peer looks like from outside, for hosts and tests.
struct PeerStatus {
  bool known = false;
  bool has_disco = false;
  Via path = Via::kDerp;
  derp_addr direct{};
  Nanos rtt = 0;
  std::size_t candidates = 0;
};

class PathCore {
 public:
  // node_private: this node's DERP/WireGuard key (Pings carry its public half; announcements are sealed with it).
  // disco_private: this node's disco key, separate from the node key (magicsock makes a fresh one per start).
  PathCore(const crypto::NodePrivate& node_private, const crypto::NodePrivate& disco_private, Options options,
           Random random);
  ~PathCore();
  PathCore(const PathCore&) = delete;
  PathCore& operator=(const PathCore&) = delete;

  const crypto::NodePublic& node_public() const { return node_public_; }
  const crypto::NodePublic& disco_public() const { return disco_public_; }

  // Peers. DERP_ERR_QUEUE_FULL past max_peers; DERP_ERR_INVALID_ARGUMENT for a zero or own key.
  int add_peer(const crypto::NodePublic& node);
  // The peer's disco key as the host's control plane knows it (adds the peer if needed). A changed key clears the
  // peer's path state (magicsock does the same when the netmap's disco key changes).
  int set_peer_disco(const crypto::NodePublic& node, const crypto::NodePublic& disco);
  void remove_peer(const crypto::NodePublic& node);
  PeerStatus peer_status(const crypto::NodePublic& node, Nanos now) const;

  // Our own candidates (STUN-discovered public address first, then interface addresses), as magicsock's
  // endpoint list. A change clears every peer's trust so the next data re-discovers.
  void set_local_endpoints(const std::vector<derp_addr>& endpoints, Nanos now);

  // Data to a peer: on the trusted direct path, else over DERP (and discovery starts). DERP_ERR_INVALID_ARGUMENT
  // for an unknown peer (add it first) or data over max_data_len.
  int send(const crypto::NodePublic& peer, Bytes data, Nanos now);

  // One datagram from the UDP socket (not STUN: the host hands those to its netcheck / STUN client).
  void receive_udp(const derp_addr& from, Bytes datagram, Nanos now);
  // One DERP packet payload from src (the DERP RecvPacket source).
  void receive_derp(const crypto::NodePublic& src, Bytes payload, Nanos now);

  void tick(Nanos now);
  Nanos next_deadline() const;

  bool take_udp(UdpOut* out);
  bool take_derp(DerpOut* out);
  bool take_event(Event* out);

  const Counters& counters() const { return counters_; }

 private:
  struct Peer;
  Peer* find(const crypto::NodePublic& node);
  const Peer* find(const crypto::NodePublic& node) const;
  Peer* find_by_disco(const crypto::NodePublic& disco);
  Peer* peer_for_source(const derp_addr& from);

  bool open_disco(Peer& peer, Bytes packet, disco::Message* m);
  void handle_disco(Peer& peer, const derp_addr* udp_from, const disco::Message& m, Nanos now);
  void handle_ping(Peer& peer, const derp_addr* udp_from, const disco::Ping& ping, Nanos now);
  void handle_pong(Peer& peer, const derp_addr* udp_from, const disco::Pong& pong, Nanos now);
  void handle_call_me_maybe(Peer& peer, const disco::CallMeMaybe& cmm, Nanos now);
  void handle_announcement(const crypto::NodePublic& src, Bytes payload, Nanos now);

  void send_pings(Peer& peer, Nanos now, bool send_call_me_maybe);
  void send_ping(Peer& peer, const derp_addr& to, Nanos now);
  void send_disco_udp(Peer& peer, const derp_addr& to, const disco::Message& m);
  void send_disco_derp(Peer& peer, const disco::Message& m);
  void maybe_announce(Peer& peer, bool reply_wanted, Nanos now);
  void heartbeat(Peer& peer, Nanos now);
  void expire(Peer& peer, Nanos now);
  void report_path(Peer& peer, Nanos now);
  bool trusted(const Peer& peer, Nanos now) const;

  void add_candidate(Peer& peer, const derp_addr& addr, Nanos now, bool from_ping, bool from_call_me_maybe);
  void drop_candidate(Peer& peer, std::size_t index, Nanos now);
  void forget_source(const derp_addr& addr, const Peer& peer);
  void reset_path(Peer& peer);

  void push_udp(UdpOut out);
  void push_derp(DerpOut out);
  void push_event(Event event);
  crypto::Nonce nonce();

  crypto::NodePrivate node_private_;
  crypto::NodePublic node_public_;
  crypto::NodePrivate disco_private_;
  crypto::NodePublic disco_public_;
  Options options_;
  Random random_;
  std::vector<derp_addr> local_endpoints_;

  std::map<crypto::KeyBytes, std::unique_ptr<Peer>> peers_;        // by node key
  std::map<crypto::KeyBytes, Peer*> by_disco_;                     // by disco key
  std::map<std::array<std::uint8_t, 19>, Peer*> by_source_;        // candidate ip:port → its peer

  std::deque<UdpOut> udp_out_;
  std::deque<DerpOut> derp_out_;
  std::deque<Event> events_;
  Counters counters_;
  std::vector<std::uint8_t> scratch_;
};

}  // namespace derp::path
