// derper's -mesh-with list: comma-separated entries, each a host, host/ip, or a full http(s) URL
// (uv/uv_mesh.hpp parse_mesh_target). Empty entries (a trailing comma) are skipped.
#pragma once

#include <string>
#include <vector>

#include "uv/uv_mesh.hpp"

namespace derper {

// false with *error naming the first bad entry.
bool parse_mesh_with(const std::string& list, std::vector<derp::uv::MeshTarget>* out, std::string* error);

}  // namespace derper
