#include "path/path_core.hpp"

#include <algorithm>
#include <cstring>

#include "common/address.hpp"
#include "disco/packet.hpp"
#include "path/announce.hpp"
#include "path/better_addr.hpp"
#include "path/sealed_data.hpp"

namespace derp::path {

namespace {


// magicsock's fake address for "via DERP" (tailcfg.DerpMagicIP).
constexpr std::uint8_t kDerpMagicIp[4] = {127, 3, 3, 40};

bool within(Nanos since, Nanos now, Nanos window) { return since != kNever && now < since + window; }

std::array<std::uint8_t, 19> source_key(const derp_addr& a) {
  std::array<std::uint8_t, 19> k{};
  k[0] = a.family;
  store_be16(k.data() + 1, a.port);
  std::memcpy(k.data() + 3, a.ip, a.family == DERP_AF_INET ? 4 : 16);
  return k;
}

bool same(const derp_addr& a, const derp_addr& b) { return derp::operator==(a, b); }

bool link_local_v6(const derp_addr& a) { return a.family == DERP_AF_INET6 && a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80; }

bool usable(const derp_addr& a) {
  return (a.family == DERP_AF_INET || a.family == DERP_AF_INET6) && a.port != 0;
}

}  // namespace

struct PathCore::Peer {
  struct Candidate {
    derp_addr addr{};
    Nanos last_ping = kNever;      // last Ping we sent it
    Nanos last_got_ping = kNever;  // last Ping we got from it (ping-learned candidates expire 45 s after)
    Nanos last_ping_back = kNever; // last time a Ping from it made us ping it back at once
    bool from_call_me_maybe = false;
  };
  struct SentPing {
    disco::TxId txid{};
    derp_addr to{};
    Nanos at = 0;
  };

  crypto::NodePublic node;
  bool has_disco = false;
  bool disco_from_host = false;
  crypto::NodePublic disco;
  crypto::SharedKey disco_shared;
  bool has_node_shared = false;
  crypto::SharedKey node_shared;  // for announcements

  std::vector<Candidate> candidates;
  std::vector<SentPing> sent_pings;
  bool has_best = false;
  AddrLatency best;
  Nanos trust_until = 0;

  Nanos last_send = kNever;
  Nanos last_full_ping = kNever;
  Nanos heartbeat_at = kNever;
  Nanos last_call_me_maybe = kNever;
  Nanos last_announce = kNever;

  Via reported = Via::kDerp;
  derp_addr reported_addr{};

  Candidate* candidate(const derp_addr& a) {
    for (auto& c : candidates) {
      if (same(c.addr, a)) return &c;
    }
    return nullptr;
  }
};

PathCore::PathCore(const crypto::NodePrivate& node_private, const crypto::NodePrivate& disco_private, Options options,
                   Random random)
    : node_private_(node_private), disco_private_(disco_private), options_(options), random_(std::move(random)) {
  crypto::public_of(node_private_, &node_public_);
  crypto::public_of(disco_private_, &disco_public_);
}

PathCore::~PathCore() = default;

PathCore::Peer* PathCore::find(const crypto::NodePublic& node) {
  auto it = peers_.find(node.bytes());
  return it == peers_.end() ? nullptr : it->second.get();
}

const PathCore::Peer* PathCore::find(const crypto::NodePublic& node) const {
  auto it = peers_.find(node.bytes());
  return it == peers_.end() ? nullptr : it->second.get();
}

PathCore::Peer* PathCore::find_by_disco(const crypto::NodePublic& disco) {
  auto it = by_disco_.find(disco.bytes());
  return it == by_disco_.end() ? nullptr : it->second;
}

PathCore::Peer* PathCore::peer_for_source(const derp_addr& from) {
  auto it = by_source_.find(source_key(from));
  return it == by_source_.end() ? nullptr : it->second;
}

int PathCore::add_peer(const crypto::NodePublic& node) {
  if (node.is_zero() || node == node_public_) return DERP_ERR_INVALID_ARGUMENT;
  if (find(node)) return DERP_OK;
  if (peers_.size() >= options_.max_peers) {
    ++counters_.peers_refused;
    return DERP_ERR_QUEUE_FULL;
  }
  auto peer = std::make_unique<Peer>();
  peer->node = node;
  peers_.emplace(node.bytes(), std::move(peer));
  return DERP_OK;
}

int PathCore::set_peer_disco(const crypto::NodePublic& node, const crypto::NodePublic& disco) {
  if (disco.is_zero() || disco == disco_public_) return DERP_ERR_INVALID_ARGUMENT;
  if (const int rc = add_peer(node); rc != DERP_OK) return rc;
  Peer& peer = *find(node);
  if (peer.has_disco && peer.disco == disco) {
    peer.disco_from_host = true;
    return DERP_OK;
  }
  crypto::SharedKey shared;
  if (const int rc = crypto::SharedKey::derive(disco_private_, disco, &shared); rc != DERP_OK) return rc;
  if (Peer* other = find_by_disco(disco); other && other != &peer) return DERP_ERR_INVALID_ARGUMENT;
  if (peer.has_disco) by_disco_.erase(peer.disco.bytes());
  peer.disco = disco;
  peer.disco_shared = shared;
  peer.has_disco = true;
  peer.disco_from_host = true;
  by_disco_[disco.bytes()] = &peer;
  reset_path(peer);
  return DERP_OK;
}

void PathCore::remove_peer(const crypto::NodePublic& node) {
  Peer* peer = find(node);
  if (!peer) return;
  for (const auto& c : peer->candidates) forget_source(c.addr, *peer);
  if (peer->has_best) forget_source(peer->best.addr, *peer);
  if (peer->has_disco) by_disco_.erase(peer->disco.bytes());
  peers_.erase(node.bytes());
}

PeerStatus PathCore::peer_status(const crypto::NodePublic& node, Nanos now) const {
  PeerStatus s;
  const Peer* peer = find(node);
  if (!peer) return s;
  s.known = true;
  s.has_disco = peer->has_disco;
  s.candidates = peer->candidates.size();
  if (trusted(*peer, now)) {
    s.path = Via::kDirect;
    s.direct = peer->best.addr;
    s.rtt = peer->best.latency;
  }
  return s;
}

bool PathCore::trusted(const Peer& peer, Nanos now) const { return peer.has_best && now < peer.trust_until; }

void PathCore::reset_path(Peer& peer) {
  peer.has_best = false;
  peer.best = AddrLatency{};
  peer.trust_until = 0;
  peer.sent_pings.clear();
  for (auto& c : peer.candidates) c.last_ping = kNever;
  peer.last_call_me_maybe = kNever;
  if (peer.reported == Via::kDirect) {
    peer.reported = Via::kDerp;
    peer.reported_addr = derp_addr{};
    ++counters_.path_changes;
    Event e;
    e.kind = Event::Kind::kPathChanged;
    e.peer = peer.node;
    e.via = Via::kDerp;
    push_event(std::move(e));
  }
}

void PathCore::set_local_endpoints(const std::vector<derp_addr>& endpoints, Nanos now) {
  std::vector<derp_addr> cleaned;
  for (const derp_addr& raw : endpoints) {
    const derp_addr a = unmap_v4(raw);
    if (!usable(a)) continue;
    if (std::none_of(cleaned.begin(), cleaned.end(), [&](const derp_addr& b) { return same(a, b); })) {
      cleaned.push_back(a);
    }
  }
  const bool changed = cleaned.size() != local_endpoints_.size() ||
                       !std::equal(cleaned.begin(), cleaned.end(), local_endpoints_.begin(), same);
  if (!changed) return;
  local_endpoints_ = std::move(cleaned);
  // magicsock's connectivity change (§6.7): no peer's path is trusted any more; active peers re-discover now, and
  // tell the peer our new endpoints in a fresh CallMeMaybe.
  for (auto& [key, peer] : peers_) {
    peer->trust_until = 0;
    peer->last_call_me_maybe = kNever;
    for (auto& c : peer->candidates) c.last_ping = kNever;
    report_path(*peer, now);
    if (within(peer->last_send, now, options_.session_active_timeout)) send_pings(*peer, now, true);
  }
}

int PathCore::send(const crypto::NodePublic& node, Bytes data, Nanos now) {
  Peer* peer = find(node);
  if (!peer) return DERP_ERR_INVALID_ARGUMENT;
  if (data.size() > options_.max_data_len) {
    ++counters_.data_too_large;
    return DERP_ERR_INVALID_ARGUMENT;
  }
  peer->last_send = now;
  if (peer->heartbeat_at == kNever) peer->heartbeat_at = now + options_.heartbeat_interval;
  if (trusted(*peer, now)) {
    UdpOut out;
    out.to = peer->best.addr;
    if (options_.seal_data) {
      if (const int rc = seal_data(peer->disco_shared, data, nonce(), &out.bytes); rc != DERP_OK) return rc;
    } else {
      out.bytes.assign(data.begin(), data.end());
    }
    ++counters_.data_sent_direct;
    push_udp(std::move(out));
    return DERP_OK;
  }
  DerpOut out;
  out.to = peer->node;
  out.bytes.assign(data.begin(), data.end());
  ++counters_.data_sent_derp;
  push_derp(std::move(out));
  send_pings(*peer, now, true);  // "start discovery" (§6.1)
  return DERP_OK;
}

void PathCore::receive_udp(const derp_addr& raw_from, Bytes d, Nanos now) {
  const derp_addr from = unmap_v4(raw_from);
  if (disco::claims(d)) {
    // From here on it is disco and never data, whatever happens (magicsock's receive path, §3).
    Peer* peer = find_by_disco(disco::sender_of(d));
    if (!peer) {
      ++counters_.disco_unknown_sender;
      return;
    }
    disco::Message m;
    if (open_disco(*peer, d, &m)) handle_disco(*peer, &from, m, now);
    return;
  }
  Peer* peer = peer_for_source(from);
  if (!peer) {
    ++counters_.data_unknown_source;
    return;
  }
  Event e;
  e.kind = Event::Kind::kData;
  e.peer = peer->node;
  e.via = Via::kDirect;
  e.addr = from;
  if (options_.seal_data) {
    if (!peer->has_disco || open_data(peer->disco_shared, d, &e.data) != DERP_OK) {
      ++counters_.data_open_failed;
      return;
    }
  } else {
    if (d.size() > options_.max_data_len) {
      ++counters_.data_too_large;
      return;
    }
    e.data.assign(d.begin(), d.end());
  }
  ++counters_.data_received_direct;
  push_event(std::move(e));
}

void PathCore::receive_derp(const crypto::NodePublic& src, Bytes payload, Nanos now) {
  if (disco::claims(payload)) {
    Peer* peer = find_by_disco(disco::sender_of(payload));
    if (!peer) {
      ++counters_.disco_unknown_sender;
      return;
    }
    if (!(peer->node == src)) {  // the DERP source must be the node that disco key belongs to (§6.3)
      ++counters_.disco_wrong_transport;
      return;
    }
    disco::Message m;
    if (open_disco(*peer, payload, &m)) handle_disco(*peer, nullptr, m, now);
    return;
  }
  if (is_announcement(payload)) {
    handle_announcement(src, payload, now);
    return;
  }
  if (payload.size() > options_.max_data_len) {
    ++counters_.data_too_large;
    return;
  }
  Event e;
  e.kind = Event::Kind::kData;
  e.peer = src;
  e.via = Via::kDerp;
  e.data.assign(payload.begin(), payload.end());
  ++counters_.data_received_derp;
  push_event(std::move(e));
}

// Opens a disco packet from `peer` and parses its message; a failure is counted and the packet dropped.
bool PathCore::open_disco(Peer& peer, Bytes packet, disco::Message* m) {
  if (disco::open(peer.disco_shared, packet, &scratch_) != DERP_OK) {
    ++counters_.disco_open_failed;
    return false;
  }
  if (disco::parse(scratch_, m) != DERP_OK) {
    ++counters_.disco_parse_failed;
    return false;
  }
  return true;
}

void PathCore::handle_disco(Peer& peer, const derp_addr* udp_from, const disco::Message& m, Nanos now) {
  switch (m.type) {
    case disco::kTypePing: handle_ping(peer, udp_from, m.ping, now); break;
    case disco::kTypePong: handle_pong(peer, udp_from, m.pong, now); break;
    case disco::kTypeCallMeMaybe:
      if (udp_from) {
        ++counters_.disco_wrong_transport;  // DERP only (§6.3)
        return;
      }
      handle_call_me_maybe(peer, m.call_me_maybe, now);
      break;
    default: break;
  }
}

void PathCore::handle_ping(Peer& peer, const derp_addr* udp_from, const disco::Ping& ping, Nanos now) {
  ++counters_.pings_received;
  disco::Message reply;
  reply.type = disco::kTypePong;
  reply.pong.txid = ping.txid;
  if (!udp_from) {
    reply.pong.src = make_addr_v4(kDerpMagicIp, options_.derp_region);
    send_disco_derp(peer, reply);
    ++counters_.pongs_sent;
    return;
  }
  add_candidate(peer, *udp_from, now, /*from_ping=*/true, /*from_call_me_maybe=*/false);
  reply.pong.src = *udp_from;  // the Pong is a built-in STUN answer: where we saw the Ping come from
  send_disco_udp(peer, *udp_from, reply);
  ++counters_.pongs_sent;
  // Its Ping proves the source's NAT lets our packets in right now, whatever our earlier pings met (they may
  // have arrived before the peer's NAT had a hole for us), so ping it back at once, at most once per
  // disco_ping_interval per source (two peers therefore cannot bounce pings off each other).
  if (!trusted(peer, now)) {
    Peer::Candidate* c = peer.candidate(*udp_from);
    if (c && !within(c->last_ping_back, now, options_.disco_ping_interval)) {
      c->last_ping_back = now;
      send_ping(peer, *udp_from, now);
    }
  }
}

void PathCore::handle_pong(Peer& peer, const derp_addr* udp_from, const disco::Pong& pong, Nanos now) {
  ++counters_.pongs_received;
  auto it = std::find_if(peer.sent_pings.begin(), peer.sent_pings.end(),
                         [&](const Peer::SentPing& p) { return p.txid == pong.txid; });
  if (it == peer.sent_pings.end() || now >= it->at + options_.ping_timeout) {
    if (it != peer.sent_pings.end()) peer.sent_pings.erase(it);
    ++counters_.pong_unmatched;
    return;
  }
  const Peer::SentPing sent = *it;
  peer.sent_pings.erase(it);
  if (!udp_from) return;  // a Pong over DERP never changes the path (§6.5)
  if (!peer.candidate(sent.to)) {
    ++counters_.pong_stale;  // magicsock: "no longer an endpoint we care about" (withdrawn or expired meanwhile)
    return;
  }
  // The address that was pinged is the one we judge; the Pong's own source just joins the peer's sources.
  if (!peer_for_source(*udp_from)) by_source_[source_key(*udp_from)] = &peer;
  const AddrLatency measured{sent.to, now - sent.at};
  if (!peer.has_best || better_addr(measured, peer.best)) {
    if (peer.has_best && !peer.candidate(peer.best.addr)) forget_source(peer.best.addr, peer);
    peer.best = measured;
    peer.has_best = true;
    by_source_[source_key(sent.to)] = &peer;
  }
  if (same(peer.best.addr, sent.to)) {
    peer.best.latency = measured.latency;
    peer.trust_until = now + options_.trust_duration;
  }
  report_path(peer, now);
}

void PathCore::handle_call_me_maybe(Peer& peer, const disco::CallMeMaybe& cmm, Nanos now) {
  ++counters_.call_me_maybe_received;
  // The new list replaces the previous one (§6.3): endpoints it leaves out go, unless a Ping taught us them too.
  for (auto& c : peer.candidates) c.from_call_me_maybe = false;
  for (const derp_addr& raw : cmm.endpoints) {
    const derp_addr a = unmap_v4(raw);
    if (!usable(a) || link_local_v6(a)) continue;
    add_candidate(peer, a, now, false, true);
  }
  for (std::size_t i = 0; i < peer.candidates.size();) {
    const Peer::Candidate& c = peer.candidates[i];
    if (!c.from_call_me_maybe && c.last_got_ping == kNever) {
      drop_candidate(peer, i, now);
    } else {
      ++i;
    }
  }
  // The point of the message: the peer just opened its NAT towards us, so ping every candidate now.
  for (auto& c : peer.candidates) c.last_ping = kNever;
  send_pings(peer, now, false);
}

void PathCore::handle_announcement(const crypto::NodePublic& src, Bytes payload, Nanos now) {
  if (!options_.accept_announcements || src.is_zero() || src == node_public_) {
    ++counters_.announcements_rejected;
    return;
  }
  Peer* peer = find(src);
  crypto::SharedKey node_shared;
  if (peer && peer->has_node_shared) {
    node_shared = peer->node_shared;
  } else if (crypto::SharedKey::derive(node_private_, src, &node_shared) != DERP_OK) {
    ++counters_.announcements_rejected;
    return;
  }
  Announcement a;
  if (open_announcement(node_shared, payload, &a) != DERP_OK || a.disco == disco_public_) {
    ++counters_.announcements_rejected;
    return;
  }
  if (!peer) {
    if (!options_.learn_peers || add_peer(src) != DERP_OK) {
      ++counters_.announcements_rejected;
      return;
    }
    peer = find(src);
  }
  peer->node_shared = node_shared;
  peer->has_node_shared = true;
  if (peer->has_disco && peer->disco_from_host && !(peer->disco == a.disco)) {
    ++counters_.announcements_rejected;  // the host's control plane wins
    return;
  }
  if (Peer* other = find_by_disco(a.disco); other && other != peer) {
    ++counters_.announcements_rejected;
    return;
  }
  ++counters_.announcements_received;
  if (!peer->has_disco || !(peer->disco == a.disco)) {
    crypto::SharedKey shared;
    if (crypto::SharedKey::derive(disco_private_, a.disco, &shared) != DERP_OK) {
      ++counters_.announcements_rejected;
      return;
    }
    if (peer->has_disco) by_disco_.erase(peer->disco.bytes());
    peer->disco = a.disco;
    peer->disco_shared = shared;
    peer->has_disco = true;
    by_disco_[a.disco.bytes()] = peer;
    reset_path(*peer);
  }
  if (a.reply_wanted) maybe_announce(*peer, false, now);
  if (within(peer->last_send, now, options_.session_active_timeout)) send_pings(*peer, now, true);
}

void PathCore::maybe_announce(Peer& peer, bool reply_wanted, Nanos now) {
  if (!options_.accept_announcements) return;
  // A request is rate limited per peer; an answer only to one a second, so two nodes never loop.
  const Nanos interval = reply_wanted ? options_.announce_interval : kSecond;
  if (within(peer.last_announce, now, interval)) return;
  if (!peer.has_node_shared) {
    if (crypto::SharedKey::derive(node_private_, peer.node, &peer.node_shared) != DERP_OK) return;
    peer.has_node_shared = true;
  }
  DerpOut out;
  out.to = peer.node;
  if (seal_announcement(peer.node_shared, Announcement{disco_public_, reply_wanted}, nonce(), &out.bytes) !=
      DERP_OK) {
    return;
  }
  peer.last_announce = now;
  ++counters_.announcements_sent;
  push_derp(std::move(out));
}

void PathCore::send_pings(Peer& peer, Nanos now, bool send_call_me_maybe) {
  if (!peer.has_disco) {
    maybe_announce(peer, true, now);
    return;
  }
  peer.last_full_ping = now;
  expire(peer, now);
  for (std::size_t i = 0; i < peer.candidates.size(); ++i) {
    if (within(peer.candidates[i].last_ping, now, options_.disco_ping_interval)) continue;
    send_ping(peer, peer.candidates[i].addr, now);
  }
  if (send_call_me_maybe && !local_endpoints_.empty() &&
      !within(peer.last_call_me_maybe, now, options_.disco_ping_interval)) {
    disco::Message m;
    m.type = disco::kTypeCallMeMaybe;
    m.call_me_maybe.endpoints = local_endpoints_;
    send_disco_derp(peer, m);
    peer.last_call_me_maybe = now;
    ++counters_.call_me_maybe_sent;
  }
}

void PathCore::send_ping(Peer& peer, const derp_addr& to, Nanos now) {
  // Forget pings past their timeout, and the oldest one when the table is full.
  std::erase_if(peer.sent_pings, [&](const Peer::SentPing& p) { return now >= p.at + options_.ping_timeout; });
  if (peer.sent_pings.size() >= options_.max_pending_pings) peer.sent_pings.erase(peer.sent_pings.begin());
  Peer::SentPing sent;
  random_(MutableBytes(sent.txid.data(), sent.txid.size()));
  sent.to = to;
  sent.at = now;
  peer.sent_pings.push_back(sent);
  if (Peer::Candidate* c = peer.candidate(to)) c->last_ping = now;
  disco::Message m;
  m.type = disco::kTypePing;
  m.ping.txid = sent.txid;
  m.ping.node_key = node_public_;
  send_disco_udp(peer, to, m);
  ++counters_.pings_sent;
}

void PathCore::send_disco_udp(Peer& peer, const derp_addr& to, const disco::Message& m) {
  std::vector<std::uint8_t> payload;
  disco::append(m, &payload);
  UdpOut out;
  out.to = to;
  if (disco::seal(disco_public_, peer.disco_shared, payload, nonce(), &out.bytes) != DERP_OK) return;
  push_udp(std::move(out));
}

void PathCore::send_disco_derp(Peer& peer, const disco::Message& m) {
  std::vector<std::uint8_t> payload;
  disco::append(m, &payload);
  DerpOut out;
  out.to = peer.node;
  if (disco::seal(disco_public_, peer.disco_shared, payload, nonce(), &out.bytes) != DERP_OK) return;
  push_derp(std::move(out));
}

void PathCore::heartbeat(Peer& peer, Nanos now) {
  if (!within(peer.last_send, now, options_.session_active_timeout)) {
    peer.heartbeat_at = kNever;  // idle: no keep-alive pings until the next send (§6.6)
    return;
  }
  peer.heartbeat_at = now + options_.heartbeat_interval;
  if (!peer.has_disco) {
    maybe_announce(peer, true, now);
    return;
  }
  if (peer.has_best) send_ping(peer, peer.best.addr, now);
  const bool full_round_wanted =
      !peer.has_best || peer.last_full_ping == kNever || !trusted(peer, now) ||
      (peer.best.latency > options_.good_enough_latency && !within(peer.last_full_ping, now, options_.upgrade_interval));
  if (full_round_wanted) send_pings(peer, now, true);
}

void PathCore::expire(Peer& peer, Nanos now) {
  for (std::size_t i = 0; i < peer.candidates.size();) {
    const Peer::Candidate& c = peer.candidates[i];
    const bool learned_only = !c.from_call_me_maybe && c.last_got_ping != kNever;
    if (learned_only && !within(c.last_got_ping, now, options_.session_active_timeout)) {
      drop_candidate(peer, i, now);
    } else {
      ++i;
    }
  }
}

void PathCore::report_path(Peer& peer, Nanos now) {
  const bool direct = trusted(peer, now);
  if (direct && peer.reported == Via::kDirect && same(peer.reported_addr, peer.best.addr)) return;
  if (!direct && peer.reported == Via::kDerp) return;
  peer.reported = direct ? Via::kDirect : Via::kDerp;
  peer.reported_addr = direct ? peer.best.addr : derp_addr{};
  ++counters_.path_changes;
  Event e;
  e.kind = Event::Kind::kPathChanged;
  e.peer = peer.node;
  e.via = peer.reported;
  e.addr = peer.reported_addr;
  e.rtt = direct ? peer.best.latency : 0;
  push_event(std::move(e));
}

void PathCore::add_candidate(Peer& peer, const derp_addr& addr, Nanos now, bool from_ping, bool from_call_me_maybe) {
  if (Peer::Candidate* c = peer.candidate(addr)) {
    if (from_ping) c->last_got_ping = now;
    if (from_call_me_maybe) c->from_call_me_maybe = true;
    by_source_[source_key(addr)] = &peer;
    return;
  }
  if (peer.candidates.size() >= options_.max_candidates) {
    // Push out the ping-learned candidate heard from longest ago that is not the current path.
    auto victim = peer.candidates.end();
    for (auto it = peer.candidates.begin(); it != peer.candidates.end(); ++it) {
      if (it->from_call_me_maybe || (peer.has_best && same(it->addr, peer.best.addr))) continue;
      if (victim == peer.candidates.end() || it->last_got_ping < victim->last_got_ping) victim = it;
    }
    if (victim == peer.candidates.end()) {
      ++counters_.candidates_evicted;  // nothing can go: the new one is not kept
      return;
    }
    forget_source(victim->addr, peer);
    peer.candidates.erase(victim);
    ++counters_.candidates_evicted;
  }
  Peer::Candidate c;
  c.addr = addr;
  if (from_ping) c.last_got_ping = now;
  c.from_call_me_maybe = from_call_me_maybe;
  peer.candidates.push_back(c);
  by_source_[source_key(addr)] = &peer;
}

void PathCore::drop_candidate(Peer& peer, std::size_t index, Nanos now) {
  const derp_addr addr = peer.candidates[index].addr;
  // magicsock's deleteEndpointLocked: a deleted endpoint that is the best path takes the path with it (data goes
  // over DERP at once, and the next round looks for another).
  if (peer.has_best && same(peer.best.addr, addr)) {
    peer.has_best = false;
    peer.best = AddrLatency{};
    peer.trust_until = 0;
    report_path(peer, now);
  }
  forget_source(addr, peer);
  peer.candidates.erase(peer.candidates.begin() + static_cast<std::ptrdiff_t>(index));
}

void PathCore::forget_source(const derp_addr& addr, const Peer& peer) {
  auto it = by_source_.find(source_key(addr));
  if (it != by_source_.end() && it->second == &peer) by_source_.erase(it);
}

void PathCore::tick(Nanos now) {
  for (auto& [key, peer] : peers_) {
    if (peer->heartbeat_at != kNever && now >= peer->heartbeat_at) heartbeat(*peer, now);
    report_path(*peer, now);
  }
}

Nanos PathCore::next_deadline() const {
  Nanos next = kNever;
  for (const auto& [key, peer] : peers_) {
    next = std::min(next, peer->heartbeat_at);
    if (peer->reported == Via::kDirect) next = std::min(next, peer->trust_until);  // to report the fallback
  }
  return next;
}

void PathCore::push_udp(UdpOut out) {
  if (udp_out_.size() >= options_.max_queued) {
    ++counters_.queue_full_drops;
    return;
  }
  udp_out_.push_back(std::move(out));
}

void PathCore::push_derp(DerpOut out) {
  if (derp_out_.size() >= options_.max_queued) {
    ++counters_.queue_full_drops;
    return;
  }
  derp_out_.push_back(std::move(out));
}

void PathCore::push_event(Event event) {
  if (events_.size() >= options_.max_queued) {
    ++counters_.queue_full_drops;
    return;
  }
  events_.push_back(std::move(event));
}

bool PathCore::take_udp(UdpOut* out) {
  if (udp_out_.empty()) return false;
  *out = std::move(udp_out_.front());
  udp_out_.pop_front();
  return true;
}

bool PathCore::take_derp(DerpOut* out) {
  if (derp_out_.empty()) return false;
  *out = std::move(derp_out_.front());
  derp_out_.pop_front();
  return true;
}

bool PathCore::take_event(Event* out) {
  if (events_.empty()) return false;
  *out = std::move(events_.front());
  events_.pop_front();
  return true;
}

crypto::Nonce PathCore::nonce() {
  crypto::Nonce n;
  random_(MutableBytes(n.data(), n.size()));
  return n;
}

}  // namespace derp::path
