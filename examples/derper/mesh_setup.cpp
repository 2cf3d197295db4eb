#include "mesh_setup.hpp"

namespace derper {

bool parse_mesh_with(const std::string& list, std::vector<derp::uv::MeshTarget>* out, std::string* error) {
  out->clear();
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string entry = list.substr(start, end - start);
    const auto first = entry.find_first_not_of(" \t");
    entry = first == std::string::npos ? "" : entry.substr(first, entry.find_last_not_of(" \t") - first + 1);
    if (!entry.empty()) {
      derp::uv::MeshTarget target;
      if (!derp::uv::parse_mesh_target(entry, &target, error)) {
        *error = "-mesh-with: " + *error;
        return false;
      }
      out->push_back(std::move(target));
    }
    start = end + 1;
  }
  return true;
}

}  // namespace derper
