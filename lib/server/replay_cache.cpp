#include "server/replay_cache.hpp"

#include <cstring>

namespace derp::server {

namespace {
std::uint64_t fingerprint(const frame::Nonce& nonce) {
  std::uint64_t f = 0;
  std::memcpy(&f, nonce.data(), sizeof f);
  return f;
}
}  // namespace

std::size_t ReplayCache::KeyHash::operator()(const frame::Key& k) const noexcept {
  // Keys are public keys: uniformly random once they opened a box, so eight of their bytes are a good hash.
  std::uint64_t h = 0;
  std::memcpy(&h, k.data() + 8, sizeof h);
  return static_cast<std::size_t>(h);
}

bool ReplayCache::check_and_remember(const frame::Key& key, const frame::Nonce& nonce) {
  if (max_idle_keys_ == 0) return true;
  const std::uint64_t f = fingerprint(nonce);
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& e = it->second;
  if (inserted) {
    e.idle_pos = idle_.insert(idle_.end(), key);
  } else {
    for (std::size_t i = 0; i < e.count; ++i) {
      if (e.fingerprints[i] == f) return false;
    }
    if (e.live == 0) idle_.splice(idle_.end(), idle_, e.idle_pos);  // most recently used now
  }
  e.fingerprints[e.next] = f;
  e.next = static_cast<std::uint8_t>((e.next + 1) % kNoncesPerKey);
  if (e.count < kNoncesPerKey) {
    ++e.count;
    ++nonces_;
  }
  evict_over_bound();
  return true;
}

void ReplayCache::pin(const frame::Key& key) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;  // cache off, or the key was evicted between its check and registration
  Entry& e = it->second;
  if (e.live++ == 0) idle_.erase(e.idle_pos);
}

void ReplayCache::unpin(const frame::Key& key) {
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.live == 0) return;
  if (--it->second.live == 0) {
    make_idle(key, it->second);
    evict_over_bound();
  }
}

void ReplayCache::make_idle(const frame::Key& key, Entry& e) { e.idle_pos = idle_.insert(idle_.end(), key); }

void ReplayCache::evict_over_bound() {
  while (idle_.size() > max_idle_keys_) {
    const auto it = entries_.find(idle_.front());
    nonces_ -= it->second.count;
    entries_.erase(it);
    idle_.pop_front();
    ++evictions_;
  }
}

}  // namespace derp::server
