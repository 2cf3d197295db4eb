// The mesh half of the cluster table (mesh_forwarders.hpp).
#include "server/mesh_forwarders.hpp"

#include <algorithm>
#include <cstring>

namespace derp::server {

std::size_t MeshForwarders::Hash::operator()(const frame::Key& k) const noexcept {
  // Public keys are uniformly random: eight of their bytes are a good hash already.
  std::uint64_t h = 0;
  std::memcpy(&h, k.data(), sizeof h);
  return static_cast<std::size_t>(h);
}

bool MeshForwarders::add(const frame::Key& key, ForwarderId link) {
  auto [it, inserted] = links_.try_emplace(key);
  std::vector<ForwarderId>& links = it->second;
  if (std::find(links.begin(), links.end(), link) == links.end()) links.push_back(link);
  return inserted;
}

bool MeshForwarders::remove(const frame::Key& key, ForwarderId link) {
  auto it = links_.find(key);
  if (it == links_.end()) return false;
  std::vector<ForwarderId>& links = it->second;
  const auto pos = std::find(links.begin(), links.end(), link);
  if (pos == links.end()) return false;
  links.erase(pos);  // order kept: the oldest remaining link becomes preferred
  if (!links.empty()) return false;
  links_.erase(it);
  return true;
}

std::vector<frame::Key> MeshForwarders::remove_link(ForwarderId link) {
  std::vector<frame::Key> orphans;
  for (auto it = links_.begin(); it != links_.end();) {
    std::vector<ForwarderId>& links = it->second;
    links.erase(std::remove(links.begin(), links.end(), link), links.end());
    if (links.empty()) {
      orphans.push_back(it->first);
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
  return orphans;
}

ForwarderId MeshForwarders::preferred(const frame::Key& key) const {
  const auto it = links_.find(key);
  return it == links_.end() ? kNoForwarder : it->second.front();
}

std::size_t MeshForwarders::keys_of(ForwarderId link) const {
  std::size_t n = 0;
  for (const auto& [key, links] : links_) n += std::count(links.begin(), links.end(), link) > 0 ? 1 : 0;
  return n;
}

}  // namespace derp::server
