// Tailscale's DERPMap JSON (tailcfg.DERPMap / DERPRegion / DERPNode), read with Go's encoding/json rules and
// written back with Go's field names (reference §7 for the fields, §5 for how a client picks a node).
//
// Reading follows encoding/json.Unmarshal:
//   - object keys select a field by exact name first, else case-insensitively (Go's folding); members are applied
//     in document order, so a later key for the same field wins;
//   - unknown keys are ignored whatever their value; null leaves a field at its default;
//   - a value of the wrong JSON type (a string for RegionID, 2.0 for an int, a number for a bool) is an error;
//   - Regions is an object keyed by decimal strings ("900", as strconv.ParseInt reads them, so "+7" and "007" are
//     7 too); RegionScore likewise.
// Differences from Go, on purpose: a null region ("900": null) or null node inside Nodes is dropped (Go stores a
// nil pointer that tailscale would dereference); invalid UTF-8 inside strings is an error (Go coerces it to U+FFFD).
// Known gaps (nlohmann's DOM, not worth a SAX reader here): a key repeated byte-for-byte keeps its first position,
// so {"RegionID":1,"regionid":2,"RegionID":3} gives 2 where Go gives 3; nesting deeper than Go's 10000 is accepted.
//
// Region key vs RegionID: Go keeps both values as they are. So do we: DerpMap::regions is keyed by the JSON map key
// (tailscale looks regions up by that key), and DerpRegion::region_id is the RegionID field unchanged, even when it
// disagrees. Encoding writes both back, so such a map round-trips unchanged. Use region_key_mismatches() to find them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace derp::derpmap {

struct DerpNode {
  std::string name;  // unique label inside the map, not a host name
  int region_id = 0;
  std::string host_name;
  std::string cert_name;   // "" = host_name; "sha256-raw:<hex>" pins a self-signed cert
  std::string ipv4;        // "" = resolve host_name; an IPv4 = use it; anything else (conventionally "none") = off
  std::string ipv6;        // likewise for IPv6
  int stun_port = 0;       // 0 = 3478, -1 = STUN off
  bool stun_only = false;  // never dialled for DERP (§5)
  int derp_port = 0;       // 0 = 443
  bool can_port80 = false;
  bool insecure_for_tests = false;
  std::string stun_test_ip;

  bool operator==(const DerpNode&) const = default;
};

struct DerpRegion {
  int region_id = 0;
  std::string region_code;
  std::string region_name;
  double latitude = 0;
  double longitude = 0;
  bool avoid = false;  // deprecated in tailscale, kept for the wire
  bool no_measure_no_home = false;
  std::vector<DerpNode> nodes;  // in priority order

  bool operator==(const DerpRegion&) const = default;
};

struct DerpHomeParams {
  std::map<int, double> region_score;  // latency multiplier per region id, used when > 0 (§5)

  bool operator==(const DerpHomeParams&) const = default;
};

struct DerpMap {
  std::optional<DerpHomeParams> home_params;  // nullopt = absent (Go's nil pointer)
  std::map<int, DerpRegion> regions;          // keyed by the JSON map key
  bool omit_default_regions = false;

  bool operator==(const DerpMap&) const = default;
};

// DERP_OK; DERP_ERR_BAD_JSON for malformed JSON, a top level that is not an object (null is an empty map), a wrong
// type, an integer out of int range, or a region key that is not a decimal integer; DERP_ERR_INVALID_ARGUMENT for a
// null out; DERP_ERR_NO_MEMORY if allocation fails. On error *out is left empty (a default DerpMap). Never throws.
int parse_derp_map(std::string_view json, DerpMap* out);

// Compact JSON with Go's field names and order, omitempty where Go has it, regions sorted by key as Go sorts map
// keys (as strings). Parses back to an equal DerpMap (except NaN/Inf coordinates, which JSON cannot hold). Returns ""
// only if memory runs out. Never throws.
std::string encode_derp_map(const DerpMap& map);

// Region ids whose JSON key differs from their RegionID field (see the header comment).
std::vector<int> region_key_mismatches(const DerpMap& map);

// The UDP port to STUN this node on: 0 → 3478, -1 → nullopt (off). Any other value outside 1..65535 → nullopt.
std::optional<std::uint16_t> effective_stun_port(const DerpNode& node);

// The TCP port for DERP: 0 → 443. Outside 0..65535 → nullopt.
std::optional<std::uint16_t> effective_derp_port(const DerpNode& node);

// How to reach a node over one address family (§5 "node choice").
struct DialAddress {
  enum class Kind {
    kAddress,   // dial `ip`
    kUseDns,    // the field is empty: resolve host_name (A for IPv4, AAAA for IPv6)
    kDisabled,  // the field is set but not an IP of this family ("none" by convention): skip this family
  };
  Kind kind = Kind::kDisabled;
  std::string ip;  // kAddress only, as written in the map

  bool operator==(const DialAddress&) const = default;
};

DialAddress node_ipv4_dial(const DerpNode& node);
DialAddress node_ipv6_dial(const DerpNode& node);

// The nodes a client dials for DERP, in order, without the STUNOnly ones (§5).
std::vector<const DerpNode*> region_nodes_for_derp(const DerpRegion& region);

}  // namespace derp::derpmap
