// DERPMap JSON (reference §7) read with Go's encoding/json rules, written with Go's names, and the node-choice
// helpers (§5). Vectors: testdata/tailscale/derpmap/ (README §6), made by tailscale v1.36.2's tailcfg.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "derpmap/derpmap.hpp"
#include "derp/common.h"
#include "support/testdata.hpp"

using derp::derpmap::DerpMap;
using derp::derpmap::DerpNode;
using derp::derpmap::DerpRegion;
using derp::derpmap::DialAddress;
using derp::derpmap::effective_derp_port;
using derp::derpmap::effective_stun_port;
using derp::derpmap::encode_derp_map;
using derp::derpmap::node_ipv4_dial;
using derp::derpmap::node_ipv6_dial;
using derp::derpmap::parse_derp_map;
using derp::derpmap::region_key_mismatches;
using derp::derpmap::region_nodes_for_derp;

namespace {

std::string read_text(const std::string& name) {
  const auto path = *derp::test::testdata_dir() / "tailscale" / "derpmap" / name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

DerpMap parsed(const std::string& json) {
  DerpMap m;
  INFO(json);
  REQUIRE(parse_derp_map(json, &m) == DERP_OK);
  return m;
}

int parse_status(const std::string& json) {
  DerpMap m;
  return parse_derp_map(json, &m);
}

const char* const kVectorFiles[] = {"derpmap_full.json",         "derpmap_full.indent.json",
                                    "derpmap_minimal.json",      "derpmap_minimal.indent.json",
                                    "dns-fallback-servers.json", "dns-fallback-servers.remarshal.json",
                                    "stuntest_DERPMapOf.json"};

}  // namespace

TEST_CASE("derpmap: every vector file parses and round-trips", "[derpmap][vectors]") {
  DERP_REQUIRE_TESTDATA();
  for (const char* name : kVectorFiles) {
    INFO(name);
    const DerpMap m = parsed(read_text(name));
    CHECK_FALSE(m.regions.empty());
    const std::string again = encode_derp_map(m);
    CHECK(parsed(again) == m);  // derpmap_checks.json: Unmarshal(Marshal(m)) is DeepEqual
    CHECK(region_key_mismatches(m).empty());
  }
}

TEST_CASE("derpmap: compact vectors re-encode to Go's exact bytes", "[derpmap][vectors]") {
  DERP_REQUIRE_TESTDATA();
  // Not required, but with no floats in these maps our output is byte-identical to json.Marshal.
  for (const char* name : {"derpmap_full.json", "derpmap_minimal.json", "dns-fallback-servers.remarshal.json",
                           "stuntest_DERPMapOf.json"}) {
    INFO(name);
    std::string text = read_text(name);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    CHECK(encode_derp_map(parsed(text)) == text);
  }
  // The indented form is the same map.
  CHECK(parsed(read_text("derpmap_full.indent.json")) == parsed(read_text("derpmap_full.json")));
  CHECK(parsed(read_text("derpmap_minimal.indent.json")) == parsed(read_text("derpmap_minimal.json")));
  CHECK(parsed(read_text("dns-fallback-servers.json")) == parsed(read_text("dns-fallback-servers.remarshal.json")));
}

TEST_CASE("derpmap: derpmap_full has every field the README lists", "[derpmap][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const DerpMap m = parsed(read_text("derpmap_full.json"));
  CHECK(m.omit_default_regions);  // written as lowercase "omitDefaultRegions"
  CHECK_FALSE(m.home_params.has_value());
  REQUIRE(m.regions.size() == 1);
  REQUIRE(m.regions.count(900) == 1);
  const DerpRegion& r = m.regions.at(900);
  CHECK(r.region_id == 900);
  CHECK(r.region_code == "test");
  CHECK(r.region_name == "Test Region");
  CHECK(r.avoid);
  CHECK_FALSE(r.no_measure_no_home);
  CHECK(r.latitude == 0);
  CHECK(r.longitude == 0);
  REQUIRE(r.nodes.size() == 2);

  const DerpNode& a = r.nodes[0];
  CHECK(a.name == "900a");
  CHECK(a.region_id == 900);
  CHECK(a.host_name == "derp900a.example.test");
  CHECK(a.cert_name == "cert900a.example.test");
  CHECK(a.ipv4 == "192.0.2.10");
  CHECK(a.ipv6 == "2001:db8::10");
  CHECK(a.stun_port == 3478);
  CHECK(a.stun_only);
  CHECK(a.derp_port == 8443);
  CHECK(a.insecure_for_tests);
  CHECK(a.stun_test_ip == "192.0.2.11");
  CHECK_FALSE(a.can_port80);  // v1.36.2 has no CanPort80

  const DerpNode& b = r.nodes[1];
  CHECK(b.name == "900b");
  CHECK(b.region_id == 900);
  CHECK(b.host_name == "derp900b.example.test");
  CHECK(b.cert_name == "cert900b.example.test");
  CHECK(b.ipv4 == "none");
  CHECK(b.ipv6 == "2001:db8::20");
  CHECK(b.stun_port == -1);
  CHECK(b.stun_only);
  CHECK(b.derp_port == 443);
  CHECK(b.insecure_for_tests);
  CHECK(b.stun_test_ip == "2001:db8::21");

  CHECK(effective_stun_port(a) == std::optional<std::uint16_t>(3478));
  CHECK_FALSE(effective_stun_port(b).has_value());  // -1 = STUN off
  CHECK(effective_derp_port(a) == std::optional<std::uint16_t>(8443));
  CHECK(node_ipv4_dial(b).kind == DialAddress::Kind::kDisabled);
  CHECK(node_ipv6_dial(b) == DialAddress{DialAddress::Kind::kAddress, "2001:db8::20"});
  CHECK(region_nodes_for_derp(r).empty());  // both nodes are STUNOnly
}

TEST_CASE("derpmap: derpmap_minimal shows omitempty", "[derpmap][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const std::string text = read_text("derpmap_minimal.json");
  const DerpMap m = parsed(text);
  CHECK_FALSE(m.omit_default_regions);
  REQUIRE(m.regions.size() == 1);
  const DerpRegion& r = m.regions.at(1);
  CHECK(r.region_id == 1);
  CHECK(r.region_code == "r1");
  CHECK(r.region_name.empty());
  CHECK_FALSE(r.avoid);
  REQUIRE(r.nodes.size() == 1);
  const DerpNode& n = r.nodes[0];
  CHECK(n.name == "1a");
  CHECK(n.region_id == 1);
  CHECK(n.host_name == "derp1.example.test");
  CHECK(n == DerpNode{"1a", 1, "derp1.example.test", "", "", "", 0, false, 0, false, false, ""});

  // RegionName is always written, even empty; Avoid and empty node fields are not; nor is omitDefaultRegions.
  const std::string out = encode_derp_map(m);
  CHECK(out.find(R"("RegionName":"")") != std::string::npos);
  CHECK(out.find("Avoid") == std::string::npos);
  CHECK(out.find("IPv4") == std::string::npos);
  CHECK(out.find("STUNPort") == std::string::npos);
  CHECK(out.find("omitDefaultRegions") == std::string::npos);
  CHECK(out.find("HomeParams") == std::string::npos);

  // Defaults for the omitted fields: DNS for both families, 3478 and 443.
  CHECK(effective_stun_port(n) == std::optional<std::uint16_t>(3478));
  CHECK(effective_derp_port(n) == std::optional<std::uint16_t>(443));
  CHECK(node_ipv4_dial(n).kind == DialAddress::Kind::kUseDns);
  CHECK(node_ipv6_dial(n).kind == DialAddress::Kind::kUseDns);
  REQUIRE(region_nodes_for_derp(r).size() == 1);
  CHECK(region_nodes_for_derp(r)[0] == &r.nodes[0]);
}

TEST_CASE("derpmap: dns-fallback-servers.json (tailscale's embedded map)", "[derpmap][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const DerpMap m = parsed(read_text("dns-fallback-servers.json"));
  const auto checks = derp::test::read_json_file("tailscale/derpmap/derpmap_checks.json");
  const auto& expect = checks.at("dns_fallback");
  REQUIRE(m.regions.size() == expect.at("regions").get<std::size_t>());  // 12
  std::size_t nodes = 0;
  std::vector<int> ids;
  for (const auto& [id, r] : m.regions) {
    ids.push_back(id);
    nodes += r.nodes.size();
    CHECK(r.region_id == id);
    for (const auto& n : r.nodes) {
      CHECK(n.region_id == id);
      CHECK(node_ipv4_dial(n).kind == DialAddress::Kind::kAddress);
      CHECK(node_ipv6_dial(n).kind == DialAddress::Kind::kAddress);
    }
    CHECK(region_nodes_for_derp(r).size() == r.nodes.size());  // none is STUN-only
  }
  CHECK(nodes == expect.at("nodes").get<std::size_t>());  // 24
  CHECK(ids == expect.at("RegionIDs").get<std::vector<int>>());

  const DerpRegion& r1 = m.regions.at(1);
  CHECK(r1.region_code == "r1");
  CHECK(r1.region_name == "r1");
  REQUIRE(r1.nodes.size() == 3);
  CHECK(r1.nodes[0] == DerpNode{"1c", 1, "derp1c.tailscale.com", "", "104.248.8.210", "2604:a880:800:10::7a0:e001",
                                0, false, 0, false, false, ""});
  CHECK(r1.nodes[1].name == "1d");
  CHECK(r1.nodes[2].name == "1e");
  CHECK(node_ipv4_dial(r1.nodes[0]) == DialAddress{DialAddress::Kind::kAddress, "104.248.8.210"});

  for (const char* name : {"derpmap_full", "derpmap_minimal"}) {
    INFO(name);
    const DerpMap mm = parsed(read_text(std::string(name) + ".json"));
    std::vector<int> got;
    for (const auto& [id, r] : mm.regions) got.push_back(id);
    CHECK(got == checks.at(name).at("RegionIDs").get<std::vector<int>>());
  }
}

TEST_CASE("derpmap: stuntest.DERPMapOf is two STUN-only regions", "[derpmap][vectors]") {
  DERP_REQUIRE_TESTDATA();
  // DERPMapOf("127.0.0.1:3478", "[::1]:3479")
  const DerpMap m = parsed(read_text("stuntest_DERPMapOf.json"));
  REQUIRE(m.regions.size() == 2);
  const DerpNode& n1 = m.regions.at(1).nodes.at(0);
  const DerpNode& n2 = m.regions.at(2).nodes.at(0);
  CHECK(n1.stun_only);
  CHECK(n2.stun_only);
  CHECK(effective_stun_port(n1) == std::optional<std::uint16_t>(3478));
  CHECK(effective_stun_port(n2) == std::optional<std::uint16_t>(3479));
  CHECK(node_ipv4_dial(n1) == DialAddress{DialAddress::Kind::kAddress, "127.0.0.1"});
  CHECK(node_ipv6_dial(n1).kind == DialAddress::Kind::kDisabled);  // "none"
  CHECK(node_ipv4_dial(n2).kind == DialAddress::Kind::kDisabled);
  CHECK(node_ipv6_dial(n2) == DialAddress{DialAddress::Kind::kAddress, "::1"});
  CHECK(region_nodes_for_derp(m.regions.at(1)).empty());
  CHECK(region_nodes_for_derp(m.regions.at(2)).empty());
}

TEST_CASE("derpmap: keys match case-insensitively, exact match preferred", "[derpmap]") {
  const DerpMap m = parsed(
      R"({"regions":{"1":{"regionid":1,"REGIONCODE":"x","nodes":[{"name":"1a","hostname":"h","ipv4":"192.0.2.1",)"
      R"("stunport":-1,"StunOnly":true,"derpport":444,"canport80":true}]}},"OMITDEFAULTREGIONS":true})");
  CHECK(m.omit_default_regions);
  REQUIRE(m.regions.count(1) == 1);
  const DerpRegion& r = m.regions.at(1);
  CHECK(r.region_id == 1);
  CHECK(r.region_code == "x");
  REQUIRE(r.nodes.size() == 1);
  CHECK(r.nodes[0].name == "1a");
  CHECK(r.nodes[0].host_name == "h");
  CHECK(r.nodes[0].ipv4 == "192.0.2.1");
  CHECK(r.nodes[0].stun_port == -1);
  CHECK(r.nodes[0].stun_only);
  CHECK(r.nodes[0].derp_port == 444);
  CHECK(r.nodes[0].can_port80);

  // Both spellings of the map flag (§7: tailscale's docs write OmitDefaultRegions, the Go tag is lowercase).
  CHECK(parsed(R"({"OmitDefaultRegions":true})").omit_default_regions);
  CHECK(parsed(R"({"omitDefaultRegions":true})").omit_default_regions);
  // Later members win, in document order.
  CHECK(parsed(R"({"Regions":{"1":{"RegionCode":"a","regioncode":"b"}}})").regions.at(1).region_code == "b");
}

TEST_CASE("derpmap: unknown fields are ignored, null means default", "[derpmap]") {
  const DerpMap m = parsed(
      R"({"Future":{"x":[1,2,{"y":null}]},"HomeParams":null,"Regions":{"7":{"RegionID":7,"Extra":"z",)"
      R"("RegionName":null,"Latitude":null,"Nodes":[{"Name":"7a","RegionID":7,"Weird":[true],"IPv4":null,)"
      R"("STUNPort":null}]}},"omitDefaultRegions":null})");
  CHECK_FALSE(m.omit_default_regions);
  CHECK_FALSE(m.home_params.has_value());
  const DerpRegion& r = m.regions.at(7);
  CHECK(r.region_name.empty());
  REQUIRE(r.nodes.size() == 1);
  CHECK(r.nodes[0].ipv4.empty());
  CHECK(r.nodes[0].stun_port == 0);

  CHECK(parsed("null") == DerpMap{});  // Go: Unmarshal("null") is a no-op
  CHECK(parsed("{}") == DerpMap{});
  CHECK(parsed(R"({"Regions":{}})").regions.empty());
  // A null region or node is dropped (Go would keep a nil pointer).
  CHECK(parsed(R"({"Regions":{"1":null}})").regions.empty());
  CHECK(parsed(R"({"Regions":{"1":{"Nodes":[null,{"Name":"1a"}]}}})").regions.at(1).nodes.size() == 1);
}

TEST_CASE("derpmap: wrong JSON types are BAD_JSON", "[derpmap]") {
  CHECK(parse_status(R"({"Regions":{"1":{"RegionID":"1"}}})") == DERP_ERR_BAD_JSON);  // RegionID as a string
  CHECK(parse_status(R"({"Regions":{"1":{"RegionID":1.0}}})") == DERP_ERR_BAD_JSON);  // Go's ParseInt refuses 1.0
  CHECK(parse_status(R"({"Regions":{"1":{"RegionID":1e2}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1":{"RegionID":4294967296}}})") == DERP_ERR_BAD_JSON);  // beyond our int
  CHECK(parse_status(R"({"Regions":{"1":{"RegionCode":5}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1":{"Avoid":1}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1":{"Latitude":"1"}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1":{"Nodes":{}}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1":{"Nodes":[1]}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1":{"Nodes":[{"STUNOnly":"true"}]}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1":{"Nodes":[{"STUNPort":"3478"}]}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1":[]}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":[]})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"abc":{}}})") == DERP_ERR_BAD_JSON);  // map key not decimal
  CHECK(parse_status(R"({"Regions":{"":{}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"Regions":{"1.5":{}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"omitDefaultRegions":"yes"})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"HomeParams":{"RegionScore":{"1":"x"}}})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"({"HomeParams":[]})") == DERP_ERR_BAD_JSON);
  CHECK(parse_status("[]") == DERP_ERR_BAD_JSON);
  CHECK(parse_status("42") == DERP_ERR_BAD_JSON);
  CHECK(parse_status(R"("x")") == DERP_ERR_BAD_JSON);

  // Map keys as strconv.ParseInt reads them.
  CHECK(parsed(R"({"Regions":{"+7":{}}})").regions.count(7) == 1);
  CHECK(parsed(R"({"Regions":{"-3":{}}})").regions.count(-3) == 1);
  CHECK(parsed(R"({"Regions":{"007":{}}})").regions.count(7) == 1);
}

TEST_CASE("derpmap: malformed JSON is BAD_JSON, a null out is INVALID_ARGUMENT", "[derpmap]") {
  for (const char* bad : {"", "{", "{\"Regions\":", "{\"Regions\":{}", "{'a':1}", "{\"a\":1,}", "nul", "{} {}",
                          "{\"Regions\":{\"1\":{\"RegionCode\":\"\xff\"}}}"}) {
    INFO(bad);
    DerpMap m;
    m.omit_default_regions = true;
    CHECK(parse_derp_map(bad, &m) == DERP_ERR_BAD_JSON);
    CHECK(m == DerpMap{});  // left empty on error
  }
  CHECK(parse_derp_map("{}", nullptr) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("derpmap: a region key that disagrees with RegionID keeps both", "[derpmap]") {
  // Go keeps the map key and the field as written; tailscale looks regions up by the key.
  const std::string text = R"({"Regions":{"5":{"RegionID":6,"RegionCode":"x","RegionName":"y","Nodes":[]}}})";
  const DerpMap m = parsed(text);
  REQUIRE(m.regions.count(5) == 1);
  CHECK(m.regions.count(6) == 0);
  CHECK(m.regions.at(5).region_id == 6);
  CHECK(region_key_mismatches(m) == std::vector<int>{5});
  CHECK(encode_derp_map(m) == text);
  CHECK(parsed(encode_derp_map(m)) == m);
}

TEST_CASE("derpmap: encode then parse gives an equal map", "[derpmap]") {
  DerpMap m;
  m.omit_default_regions = true;
  m.home_params.emplace();
  m.home_params->region_score = {{1, 0.5}, {10, 2.25}, {2, 1e-3}};
  DerpRegion r;
  r.region_id = 900;
  r.region_code = "home";
  r.region_name = "My \"DERP\" <&> \xC3\xA9";
  r.latitude = 52.3676;
  r.longitude = -4.9041;
  r.avoid = true;
  r.no_measure_no_home = true;
  DerpNode n;
  n.name = "900a";
  n.region_id = 900;
  n.host_name = "derp.example.com";
  n.cert_name = "sha256-raw:00ff";
  n.ipv4 = "203.0.113.10";
  n.ipv6 = "2001:db8::10";
  n.stun_port = -1;
  n.stun_only = false;
  n.derp_port = 8443;
  n.can_port80 = true;
  n.insecure_for_tests = true;
  n.stun_test_ip = "203.0.113.11";
  r.nodes.push_back(n);
  n.name = "900b";
  n.stun_only = true;
  r.nodes.push_back(n);
  m.regions[900] = r;
  m.regions[2] = DerpRegion{};
  m.regions[2].region_id = 2;

  const std::string text = encode_derp_map(m);
  INFO(text);
  CHECK(parsed(text) == m);
  // Go's order: HomeParams, Regions (keys sorted as strings), omitDefaultRegions.
  CHECK(text.starts_with(R"({"HomeParams":{"RegionScore":{"1":0.5,"10":2.25,"2":0.001}},"Regions":{"2":)"));
  CHECK(text.find(R"("900":{"RegionID":900)") != std::string::npos);
  CHECK(text.ends_with(R"(}},"omitDefaultRegions":true})"));

  // Empty HomeParams is kept as present.
  DerpMap e;
  e.home_params.emplace();
  CHECK(encode_derp_map(e) == R"({"HomeParams":{},"Regions":{}})");
  CHECK(parsed(encode_derp_map(e)) == e);
  CHECK(encode_derp_map(DerpMap{}) == R"({"Regions":{}})");
}

TEST_CASE("derpmap: effective ports", "[derpmap]") {
  DerpNode n;
  CHECK(effective_stun_port(n) == std::optional<std::uint16_t>(3478));
  CHECK(effective_derp_port(n) == std::optional<std::uint16_t>(443));
  n.stun_port = -1;
  CHECK_FALSE(effective_stun_port(n).has_value());
  n.stun_port = 3479;
  CHECK(effective_stun_port(n) == std::optional<std::uint16_t>(3479));
  n.stun_port = 65536;
  CHECK_FALSE(effective_stun_port(n).has_value());
  n.stun_port = -2;
  CHECK_FALSE(effective_stun_port(n).has_value());
  n.derp_port = 3340;
  CHECK(effective_derp_port(n) == std::optional<std::uint16_t>(3340));
  n.derp_port = -1;
  CHECK_FALSE(effective_derp_port(n).has_value());
  n.derp_port = 65535;
  CHECK(effective_derp_port(n) == std::optional<std::uint16_t>(65535));
}

TEST_CASE("derpmap: dial addresses per family", "[derpmap]") {
  DerpNode n;
  n.host_name = "derp.example.com";
  CHECK(node_ipv4_dial(n).kind == DialAddress::Kind::kUseDns);
  CHECK(node_ipv6_dial(n).kind == DialAddress::Kind::kUseDns);
  n.ipv4 = "192.0.2.1";
  n.ipv6 = "2001:db8::1";
  CHECK(node_ipv4_dial(n) == DialAddress{DialAddress::Kind::kAddress, "192.0.2.1"});
  CHECK(node_ipv6_dial(n) == DialAddress{DialAddress::Kind::kAddress, "2001:db8::1"});
  // Wrong family, "none", or junk: that family is off.
  n.ipv4 = "2001:db8::1";
  n.ipv6 = "192.0.2.1";
  CHECK(node_ipv4_dial(n).kind == DialAddress::Kind::kDisabled);
  CHECK(node_ipv6_dial(n).kind == DialAddress::Kind::kDisabled);
  n.ipv4 = "none";
  n.ipv6 = "derp.example.com";
  CHECK(node_ipv4_dial(n).kind == DialAddress::Kind::kDisabled);
  CHECK(node_ipv6_dial(n).kind == DialAddress::Kind::kDisabled);
  n.ipv4 = "192.0.2.256";
  CHECK(node_ipv4_dial(n).kind == DialAddress::Kind::kDisabled);
  CHECK(node_ipv4_dial(n).ip.empty());
}

TEST_CASE("derpmap: STUN-only nodes are skipped for DERP, order kept", "[derpmap]") {
  const DerpMap m = parsed(R"({"Regions":{"1":{"RegionID":1,"Nodes":[{"Name":"a","STUNOnly":true},{"Name":"b"},)"
                           R"({"Name":"c","STUNOnly":false},{"Name":"d","STUNOnly":true},{"Name":"e"}]}}})");
  const auto nodes = region_nodes_for_derp(m.regions.at(1));
  REQUIRE(nodes.size() == 3);
  CHECK(nodes[0]->name == "b");
  CHECK(nodes[1]->name == "c");
  CHECK(nodes[2]->name == "e");
  CHECK(region_nodes_for_derp(DerpRegion{}).empty());
}
