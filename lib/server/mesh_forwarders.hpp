// Which mesh peers say a key is connected to them: the non-local half of derper's cluster table (clientsMesh in
// derp/derpserver/derpserver.go). Each mesh link the host runs has a ForwarderId; PeerPresent on that link adds
// the key, PeerGone (or the link breaking) removes it. Sans-IO, no policy beyond derper's choice of link:
//
//   - a key known through several links goes to the one that reported it first (derper's multiForwarder keeps its
//     first forwarder as preferred); when that one removes it, the oldest remaining link takes over;
//   - adding a link a second time for the same key changes nothing (derper ignores duplicate registrations).
//
// Whether a local connection beats a forwarder is the Server's business (it does: local first, as derper).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "frame/frame_types.hpp"

namespace derp::server {

// Names one mesh link of the host; 0 is never a valid id.
using ForwarderId = std::uint64_t;
constexpr ForwarderId kNoForwarder = 0;

class MeshForwarders {
 public:
  // Registers link for key. True when key had no link before.
  bool add(const frame::Key& key, ForwarderId link);
  // Removes link for key. True when that was key's last link (key is now unknown to the mesh); false when other
  // links still have it or link did not have it.
  bool remove(const frame::Key& key, ForwarderId link);
  // Removes link for every key; returns the keys that have no link left.
  std::vector<frame::Key> remove_link(ForwarderId link);

  // The link to forward key's packets on, or kNoForwarder.
  ForwarderId preferred(const frame::Key& key) const;
  bool has(const frame::Key& key) const { return links_.count(key) != 0; }
  // Keys with at least one link.
  std::size_t keys() const { return links_.size(); }
  // Keys one link has reported (for its metrics).
  std::size_t keys_of(ForwarderId link) const;

 private:
  struct Hash {
    std::size_t operator()(const frame::Key& k) const noexcept;
  };
  // Per key, its links in the order they reported it: front() is the preferred one. Almost always one element.
  std::unordered_map<frame::Key, std::vector<ForwarderId>, Hash> links_;
};

}  // namespace derp::server
