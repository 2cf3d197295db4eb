// DERPMap JSON: Go encoding/json reading rules and Go field names (reference §7), node choice helpers (§5).
#include "derpmap/derpmap.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>

#include <nlohmann/json.hpp>

#include "crypto/go_json_read.hpp"
#include "derp/common.h"
#include "common/ip_literal.hpp"

namespace derp::derpmap {

namespace {

// ordered_json keeps document order, so members are applied in the order Go applies them.
using Json = nlohmann::ordered_json;

// Which of `names` a key selects: an exact match wins, else the first case-insensitive match in field order (Go's
// encoding/json field lookup). -1 for an unknown key.
template <std::size_t N>
int field_index(std::string_view key, const std::string_view (&names)[N]) {
  for (std::size_t i = 0; i < N; ++i) {
    if (key == names[i]) return static_cast<int>(i);
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (crypto::gojson::key_matches(key, names[i])) return static_cast<int>(i);
  }
  return -1;
}

// Go's conversions. Each returns false on a wrong type; the caller has already skipped null.
bool read_bool(const Json& v, bool* out) {
  if (!v.is_boolean()) return false;
  *out = v.get<bool>();
  return true;
}

bool read_string(const Json& v, std::string* out) {
  if (!v.is_string()) return false;
  *out = v.get<std::string>();
  return true;
}

// Go parses an int field with strconv.ParseInt, so 2.0 and 1e3 are errors: only integer literals are accepted.
// Go's int is 64-bit; ours is narrower and refuses what does not fit.
bool read_int(const Json& v, int* out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return false;
    *out = static_cast<int>(u);
    return true;
  }
  if (v.is_number_integer()) {
    const auto s = v.get<std::int64_t>();
    if (s < std::numeric_limits<int>::min() || s > std::numeric_limits<int>::max()) return false;
    *out = static_cast<int>(s);
    return true;
  }
  return false;
}

bool read_double(const Json& v, double* out) {
  if (!v.is_number()) return false;
  const double d = v.get<double>();
  if (!std::isfinite(d)) return false;  // Go: "value out of range" for 1e400
  *out = d;
  return true;
}

// A map[int]T key, as encoding/json reads it: strconv.ParseInt(key, 10, 64), so an optional sign then digits.
bool parse_int_key(std::string_view key, int* out) {
  bool negative = false;
  if (!key.empty() && (key.front() == '+' || key.front() == '-')) {
    negative = key.front() == '-';
    key.remove_prefix(1);
  }
  if (key.empty()) return false;
  std::int64_t magnitude = 0;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), magnitude);
  if (ec != std::errc() || end != key.data() + key.size()) return false;  // also rejects a second sign
  const std::int64_t value = negative ? -magnitude : magnitude;
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) return false;
  *out = static_cast<int>(value);
  return true;
}

// Field names exactly as Go's json tags spell them (tailcfg.go), in struct order.
constexpr std::string_view kNodeFields[] = {"Name",     "RegionID", "HostName",         "CertName",
                                            "IPv4",     "IPv6",     "STUNPort",         "STUNOnly",
                                            "DERPPort", "CanPort80", "InsecureForTests", "STUNTestIP"};
constexpr std::string_view kRegionFields[] = {"RegionID", "RegionCode", "RegionName",      "Latitude",
                                              "Longitude", "Avoid",     "NoMeasureNoHome", "Nodes"};
constexpr std::string_view kHomeFields[] = {"RegionScore"};
constexpr std::string_view kMapFields[] = {"HomeParams", "Regions", "omitDefaultRegions"};

bool read_node(const Json& obj, DerpNode* node) {
  if (!obj.is_object()) return false;
  for (const auto& [key, v] : obj.items()) {
    if (v.is_null()) continue;  // null leaves the field as it was
    bool ok = true;
    switch (field_index(key, kNodeFields)) {
      case 0: ok = read_string(v, &node->name); break;
      case 1: ok = read_int(v, &node->region_id); break;
      case 2: ok = read_string(v, &node->host_name); break;
      case 3: ok = read_string(v, &node->cert_name); break;
      case 4: ok = read_string(v, &node->ipv4); break;
      case 5: ok = read_string(v, &node->ipv6); break;
      case 6: ok = read_int(v, &node->stun_port); break;
      case 7: ok = read_bool(v, &node->stun_only); break;
      case 8: ok = read_int(v, &node->derp_port); break;
      case 9: ok = read_bool(v, &node->can_port80); break;
      case 10: ok = read_bool(v, &node->insecure_for_tests); break;
      case 11: ok = read_string(v, &node->stun_test_ip); break;
      default: break;  // unknown field: ignored
    }
    if (!ok) return false;
  }
  return true;
}

bool read_nodes(const Json& arr, std::vector<DerpNode>* nodes) {
  if (!arr.is_array()) return false;
  nodes->clear();  // Go resets a slice it decodes into
  for (const auto& element : arr) {
    if (element.is_null()) continue;  // Go would keep a nil *DERPNode; we drop it (see header)
    DerpNode node;
    if (!read_node(element, &node)) return false;
    nodes->push_back(std::move(node));
  }
  return true;
}

bool read_region(const Json& obj, DerpRegion* region) {
  if (!obj.is_object()) return false;
  for (const auto& [key, v] : obj.items()) {
    if (v.is_null()) continue;
    bool ok = true;
    switch (field_index(key, kRegionFields)) {
      case 0: ok = read_int(v, &region->region_id); break;
      case 1: ok = read_string(v, &region->region_code); break;
      case 2: ok = read_string(v, &region->region_name); break;
      case 3: ok = read_double(v, &region->latitude); break;
      case 4: ok = read_double(v, &region->longitude); break;
      case 5: ok = read_bool(v, &region->avoid); break;
      case 6: ok = read_bool(v, &region->no_measure_no_home); break;
      case 7: ok = read_nodes(v, &region->nodes); break;
      default: break;
    }
    if (!ok) return false;
  }
  return true;
}

// Regions: map[int]*DERPRegion. The map key is what tailscale looks regions up by, so it is our key; RegionID is
// kept as written even when it disagrees (Go keeps both; see the header).
bool read_regions(const Json& obj, std::map<int, DerpRegion>* regions) {
  if (!obj.is_object()) return false;
  for (const auto& [key, v] : obj.items()) {
    int id = 0;
    if (!parse_int_key(key, &id)) return false;  // Go: UnmarshalTypeError for a non-numeric key
    if (v.is_null()) {
      regions->erase(id);  // Go stores a nil pointer here; we drop the region (see header)
      continue;
    }
    DerpRegion region;  // Go allocates a fresh region for each map value
    if (!read_region(v, &region)) return false;
    (*regions)[id] = std::move(region);
  }
  return true;
}

bool read_region_score(const Json& obj, std::map<int, double>* scores) {
  if (!obj.is_object()) return false;
  for (const auto& [key, v] : obj.items()) {
    int id = 0;
    if (!parse_int_key(key, &id)) return false;
    double score = 0;  // Go stores the zero value for a null map element
    if (!v.is_null() && !read_double(v, &score)) return false;
    (*scores)[id] = score;
  }
  return true;
}

bool read_home_params(const Json& obj, DerpHomeParams* home) {
  if (!obj.is_object()) return false;
  for (const auto& [key, v] : obj.items()) {
    if (v.is_null()) continue;
    if (field_index(key, kHomeFields) == 0 && !read_region_score(v, &home->region_score)) return false;
  }
  return true;
}

bool read_map(const Json& doc, DerpMap* map) {
  if (doc.is_null()) return true;  // Go: Unmarshal("null") leaves the value unchanged
  if (!doc.is_object()) return false;
  for (const auto& [key, v] : doc.items()) {
    if (v.is_null()) continue;
    bool ok = true;
    switch (field_index(key, kMapFields)) {
      case 0:
        if (!map->home_params) map->home_params.emplace();
        ok = read_home_params(v, &*map->home_params);
        break;
      case 1: ok = read_regions(v, &map->regions); break;
      case 2: ok = read_bool(v, &map->omit_default_regions); break;
      default: break;
    }
    if (!ok) return false;
  }
  return true;
}

// Go's json.Marshal of a map[int]T sorts the keys as strings ("1" < "10" < "2"); ordered_json keeps our order.
template <typename T>
std::vector<std::pair<std::string, const T*>> sorted_by_text(const std::map<int, T>& m) {
  std::vector<std::pair<std::string, const T*>> out;
  out.reserve(m.size());
  for (const auto& [id, value] : m) out.emplace_back(std::to_string(id), &value);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

// Field order and omitempty as in tailcfg.DERPNode: Name, RegionID, HostName always; the rest only when set.
Json node_json(const DerpNode& n) {
  Json j = Json::object();
  j["Name"] = n.name;
  j["RegionID"] = n.region_id;
  j["HostName"] = n.host_name;
  if (!n.cert_name.empty()) j["CertName"] = n.cert_name;
  if (!n.ipv4.empty()) j["IPv4"] = n.ipv4;
  if (!n.ipv6.empty()) j["IPv6"] = n.ipv6;
  if (n.stun_port != 0) j["STUNPort"] = n.stun_port;
  if (n.stun_only) j["STUNOnly"] = true;
  if (n.derp_port != 0) j["DERPPort"] = n.derp_port;
  if (n.insecure_for_tests) j["InsecureForTests"] = true;
  if (!n.stun_test_ip.empty()) j["STUNTestIP"] = n.stun_test_ip;
  if (n.can_port80) j["CanPort80"] = true;  // last in newer tailcfg; absent from v1.36.2
  return j;
}

// tailcfg.DERPRegion: RegionID, RegionCode, RegionName always; Latitude, Longitude, Avoid, NoMeasureNoHome
// omitempty; Nodes always.
Json region_json(const DerpRegion& r) {
  Json j = Json::object();
  j["RegionID"] = r.region_id;
  j["RegionCode"] = r.region_code;
  j["RegionName"] = r.region_name;
  if (r.latitude != 0) j["Latitude"] = r.latitude;
  if (r.longitude != 0) j["Longitude"] = r.longitude;
  if (r.avoid) j["Avoid"] = true;
  if (r.no_measure_no_home) j["NoMeasureNoHome"] = true;
  Json nodes = Json::array();  // Go writes null for a nil slice; [] reads back the same
  for (const auto& n : r.nodes) nodes.push_back(node_json(n));
  j["Nodes"] = std::move(nodes);
  return j;
}

std::optional<std::uint16_t> port_in_range(int port) {
  if (port < 1 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

// §5: a non-empty field that parses as an IP of this family is dialled; any other non-empty value ("none" by
// convention) turns the family off; an empty field means DNS.
DialAddress dial_for(const std::string& field, std::size_t family_size) {
  DialAddress d;
  if (field.empty()) {
    d.kind = DialAddress::Kind::kUseDns;
    return d;
  }
  const auto ip = parse_ip_literal(field);
  if (ip && ip->size == family_size) {
    d.kind = DialAddress::Kind::kAddress;
    d.ip = field;
  } else {
    d.kind = DialAddress::Kind::kDisabled;
  }
  return d;
}

}  // namespace

int parse_derp_map(std::string_view json, DerpMap* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  *out = DerpMap{};
  try {
    // allow_exceptions=false: malformed text gives a "discarded" value instead of throwing.
    const Json doc = Json::parse(json.begin(), json.end(), nullptr, false);
    if (doc.is_discarded()) return DERP_ERR_BAD_JSON;
    DerpMap parsed;
    if (!read_map(doc, &parsed)) return DERP_ERR_BAD_JSON;
    *out = std::move(parsed);
    return DERP_OK;
  } catch (const std::bad_alloc&) {
    *out = DerpMap{};
    return DERP_ERR_NO_MEMORY;
  } catch (...) {  // nothing else should throw; never let it out of the module
    *out = DerpMap{};
    return DERP_ERR_BAD_JSON;
  }
}

std::string encode_derp_map(const DerpMap& map) {
  try {
    // tailcfg.DERPMap field order: HomeParams (omitempty pointer), Regions, omitDefaultRegions (omitempty).
    Json j = Json::object();
    if (map.home_params) {
      Json home = Json::object();
      if (!map.home_params->region_score.empty()) {
        Json scores = Json::object();
        for (const auto& [key, score] : sorted_by_text(map.home_params->region_score)) scores[key] = *score;
        home["RegionScore"] = std::move(scores);
      }
      j["HomeParams"] = std::move(home);
    }
    Json regions = Json::object();
    for (const auto& [key, region] : sorted_by_text(map.regions)) regions[key] = region_json(*region);
    j["Regions"] = std::move(regions);
    if (map.omit_default_regions) j["omitDefaultRegions"] = true;
    // replace: invalid UTF-8 in a caller's string becomes U+FFFD (as Go does) instead of throwing.
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  } catch (...) {
    return std::string();
  }
}

std::vector<int> region_key_mismatches(const DerpMap& map) {
  std::vector<int> out;
  for (const auto& [key, region] : map.regions) {
    if (region.region_id != key) out.push_back(key);
  }
  return out;
}

std::optional<std::uint16_t> effective_stun_port(const DerpNode& node) {
  if (node.stun_port == 0) return std::uint16_t{3478};  // §6.5
  return port_in_range(node.stun_port);                 // -1 (off) and other junk → nullopt
}

std::optional<std::uint16_t> effective_derp_port(const DerpNode& node) {
  if (node.derp_port == 0) return std::uint16_t{443};  // §5 "port"
  return port_in_range(node.derp_port);
}

DialAddress node_ipv4_dial(const DerpNode& node) { return dial_for(node.ipv4, 4); }
DialAddress node_ipv6_dial(const DerpNode& node) { return dial_for(node.ipv6, 16); }

std::vector<const DerpNode*> region_nodes_for_derp(const DerpRegion& region) {
  std::vector<const DerpNode*> out;
  for (const auto& n : region.nodes) {
    if (!n.stun_only) out.push_back(&n);  // §5: STUN-only nodes are never dialled for DERP
  }
  return out;
}

}  // namespace derp::derpmap
