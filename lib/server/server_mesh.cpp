// Mesh dialling, the core's half (reference §4.1, §4.7; derper's AddPacketForwarder/RemovePacketForwarder in
// derp/derpserver/derpserver.go): the keys other servers of the region reported over the host's mesh links, the
// forwarding of packets for them, and PeerGone when a key has left the whole region.
#include <algorithm>

#include "crypto/key_text.hpp"
#include "server/server.hpp"

namespace derp::server {

void Server::add_forwarder(const frame::Key& key, ForwarderId link, Nanos now) {
  now_ = now;
  if (forwarders_.add(key, link) && clients_.count(key) == 0) counters_.clients_remote++;
}

void Server::remove_forwarder(const frame::Key& key, ForwarderId link, Nanos now) {
  now_ = now;
  if (!forwarders_.remove(key, link)) return;  // other links still have it, or this one never did
  if (clients_.count(key) != 0) return;        // still connected here
  counters_.clients_remote--;
  note_gone_from_region(key);
}

std::size_t Server::remove_forwarder_link(ForwarderId link, Nanos now) {
  now_ = now;
  const std::vector<frame::Key> orphans = forwarders_.remove_link(link);
  for (const frame::Key& key : orphans) {
    if (clients_.count(key) != 0) continue;
    counters_.clients_remote--;
    note_gone_from_region(key);
  }
  return orphans.size();
}

void Server::note_gone_from_region(const frame::Key& key) {
  auto sent = sent_to_.find(key);
  if (sent == sent_to_.end()) return;
  for (const frame::Key& dst : sent->second) {
    if (Connection* to = find_active(dst)) send_peer_gone(to, key, DERP_PEER_GONE_DISCONNECTED);
  }
  sent_to_.erase(sent);
}

bool Server::forward_to_mesh(const frame::Key& src, const frame::Key& dst, Bytes packet, std::size_t kind_slot) {
  const ForwarderId link = forwarders_.preferred(dst);
  if (link == kNoForwarder || !options_.forward) return false;
  counters_.packets_forwarded_out++;
  // derper writes ForwardPacket on the link at once and ignores a failed write; we count it.
  if (!options_.forward(link, src, dst, packet)) counters_.count_drop(DropReason::write_error, kind_slot, packet.size());
  return true;
}

void Server::record_sent_from(const frame::Key& src, const frame::Key& dst) {
  // A forwarded packet's source lives on another server: its receivers hear PeerGone when it leaves the region.
  // Only sources the mesh reported are remembered, so a mesh peer cannot grow this table with made-up keys.
  if (!forwarders_.has(src)) return;
  std::vector<frame::Key>& dsts = sent_to_[src];
  if (std::find(dsts.begin(), dsts.end(), dst) != dsts.end()) return;
  if (dsts.size() >= 1024) {
    dsts.erase(std::remove_if(dsts.begin(), dsts.end(), [&](const frame::Key& k) { return !clients_.count(k); }),
               dsts.end());
  }
  dsts.push_back(dst);
}

std::uint64_t Server::forwarded_in_from(const frame::Key& peer) const {
  const auto it = forwarded_in_by_peer_.find(peer);
  return it == forwarded_in_by_peer_.end() ? 0 : it->second;
}

}  // namespace derp::server
