// Remembers the nonces of the ClientInfo boxes a server opened, per client key, so that captured ClientInfo bytes
// replayed on a new connection are refused.
//
// Why it works: DERP has no challenge (reference §3: the client seals its ClientInfo before it hears from the
// server), so a captured ClientInfo frame (plain HTTP, or a TLS terminator in front of us) logs in as that client
// again, and the newest connection of a key takes its traffic (§4.2). But every honest client seals each
// ClientInfo with 24 fresh random bytes of nonce (derp_client.go: SealTo draws a random nonce), so a (key, nonce)
// pair seen twice is a replay, never a reconnect. The nonce cannot be altered by the replayer: it is authenticated
// by the box, so a changed nonce no longer opens.
//
// What is stored: 8 bytes of each nonce (a 64-bit fingerprint; the replayer cannot choose the honest nonce, so an
// accidental match is a 2^-64 event per remembered nonce), at most kNoncesPerKey per key, newest first out last.
//
// Bound and eviction: keys with a live connection are pinned and never evicted; keys without one ("idle") are
// kept in least-recently-used order up to max_idle_keys, and the oldest idle key is forgotten whole when the
// bound is passed. Why this rule: the harm of a replay is taking over a connected client's traffic, and a
// connected client's nonces cannot be pushed out by any flood of fresh keys (each of which costs the flooder a
// handshake); a flood only evicts the keys that have been away longest. Memory: about 300 bytes per remembered
// key, so max_idle_keys plus the live connections bound it.
//
// What it does not protect against: a capture older than the key's last kNoncesPerKey handshakes, or of a key
// evicted while away (the replayer then logs in as that key, until the honest client connects again and takes
// over); a replay to another server (each server remembers only its own handshakes, and forgets all at restart);
// anyone who can read the TLS stream can also read the packets. It is no substitute for TLS end to end.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>

#include "frame/frame_types.hpp"

namespace derp::server {

class ReplayCache {
 public:
  static constexpr std::size_t kNoncesPerKey = 16;

  // max_idle_keys == 0 turns the cache off (every ClientInfo is accepted as before).
  explicit ReplayCache(std::size_t max_idle_keys) : max_idle_keys_(max_idle_keys) {}

  // False when (key, nonce) was seen before: a replay. Otherwise remembers it and returns true.
  bool check_and_remember(const frame::Key& key, const frame::Nonce& nonce);

  // A connection of key was registered / unregistered: pinned keys are never evicted.
  void pin(const frame::Key& key);
  void unpin(const frame::Key& key);

  std::size_t keys() const { return entries_.size(); }
  std::size_t idle_keys() const { return idle_.size(); }
  std::size_t nonces() const { return nonces_; }
  std::uint64_t evictions() const { return evictions_; }

 private:
  struct KeyHash {
    std::size_t operator()(const frame::Key& k) const noexcept;
  };
  struct Entry {
    std::array<std::uint64_t, kNoncesPerKey> fingerprints{};
    std::uint8_t count = 0;  // fingerprints in use
    std::uint8_t next = 0;   // slot the next one goes to (the oldest once full)
    std::uint32_t live = 0;  // registered connections of this key
    std::list<frame::Key>::iterator idle_pos;  // valid while live == 0
  };

  void make_idle(const frame::Key& key, Entry& e);
  void evict_over_bound();

  std::size_t max_idle_keys_;
  std::unordered_map<frame::Key, Entry, KeyHash> entries_;
  std::list<frame::Key> idle_;  // least recently used first
  std::size_t nonces_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace derp::server
