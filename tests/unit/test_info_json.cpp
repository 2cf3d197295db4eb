// The ClientInfo / ServerInfo JSON: Go's exact bytes when writing, Go's rules when reading (reference §3, §9.4,
// §9.5; Tailscale derp/derp_client.go clientInfo, serverInfo).
#include <catch2/catch.hpp>

#include <string>

#include "crypto/client_info.hpp"
#include "crypto/server_info.hpp"
#include "derp/common.h"

using derp::crypto::ClientInfo;
using derp::crypto::ServerInfo;
using derp::crypto::decode_client_info;
using derp::crypto::decode_server_info;
using derp::crypto::encode_client_info;
using derp::crypto::encode_server_info;

namespace {

ClientInfo decoded(const std::string& json) {
  ClientInfo info;
  INFO(json);
  REQUIRE(decode_client_info(json, &info) == DERP_OK);
  return info;
}

const std::string kMeshKey = "6d6573682d6b65792d666f722d746573742d766563746f72732d303132333435";

}  // namespace

TEST_CASE("info: ClientInfo encodes in Go's order with Go's omit rules", "[crypto]") {
  ClientInfo info;
  CHECK(encode_client_info(info) == R"({"CanAckPings":false})");  // version 0 omitted, CanAckPings always there

  info.version = 2;
  CHECK(encode_client_info(info) == R"({"version":2,"CanAckPings":false})");
  info.can_ack_pings = true;
  CHECK(encode_client_info(info) == R"({"version":2,"CanAckPings":true})");

  info.mesh_key = "";  // never sent empty: current servers fail the handshake on it (pitfall §9.4)
  CHECK(encode_client_info(info) == R"({"version":2,"CanAckPings":true})");

  info.mesh_key = kMeshKey;
  info.is_prober = true;
  info.app_name = "libderp-test";
  CHECK(encode_client_info(info) == R"({"version":2,"meshKey":")" + kMeshKey +
                                        R"(","CanAckPings":true,"IsProber":true,"AppName":"libderp-test"})");
  info.version = -7;
  info.mesh_key.reset();
  info.is_prober = false;
  info.app_name.clear();
  CHECK(encode_client_info(info) == R"({"version":-7,"CanAckPings":true})");
}

TEST_CASE("info: strings are escaped exactly as Go's json.Marshal escapes them", "[crypto]") {
  ClientInfo info;
  info.app_name = std::string("q\"b\\s/<a>&\b\f\n\r\t\x01\x1f\x7f") +
                  "\xE2\x80\xA8\xE2\x80\xA9\xC3\xA9\xF0\x9F\x94\x91";
  CHECK(encode_client_info(info) ==
        R"({"CanAckPings":false,"AppName":"q\"b\\s/\u003ca\u003e\u0026\b\f\n\r\t\u0001\u001f)"
        "\x7f"
        R"(\u2028\u2029é🔑"})");
  // Each byte that does not start valid UTF-8 becomes \ufffd (overlong, surrogate, truncated, stray continuation).
  info.app_name = std::string("a\xC0\xAF" "b\xED\xA0\x80" "c\xE2\x82" "d\x80" "e\xFF");
  CHECK(encode_client_info(info) ==
        R"({"CanAckPings":false,"AppName":"a\ufffd\ufffdb\ufffd\ufffd\ufffdc\ufffd\ufffdd\ufffde\ufffd"})");
  info.app_name = std::string("nul\0byte", 8);
  CHECK(encode_client_info(info) == R"({"CanAckPings":false,"AppName":"nul\u0000byte"})");
}

TEST_CASE("info: ServerInfo encodes with every member omitted when zero", "[crypto]") {
  ServerInfo info;
  CHECK(encode_server_info(info) == "{}");
  info.version = 2;
  CHECK(encode_server_info(info) == R"({"version":2})");
  info.token_bucket_bytes_per_second = 1000000;
  CHECK(encode_server_info(info) == R"({"version":2,"TokenBucketBytesPerSecond":1000000})");
  info.token_bucket_bytes_burst = INT64_MIN;
  CHECK(encode_server_info(info) ==
        R"({"version":2,"TokenBucketBytesPerSecond":1000000,"TokenBucketBytesBurst":-9223372036854775808})");
}

TEST_CASE("info: ClientInfo decodes what Tailscale sends", "[crypto]") {
  ClientInfo info = decoded(R"({"version":2,"CanAckPings":true})");
  CHECK(info.version == 2);
  CHECK(info.can_ack_pings);
  CHECK_FALSE(info.mesh_key.has_value());
  CHECK_FALSE(info.is_prober);
  CHECK(info.app_name.empty());

  info = decoded(R"({"version":2,"meshKey":")" + kMeshKey + R"(","CanAckPings":true,"IsProber":true,"AppName":"x"})");
  CHECK(info.mesh_key == kMeshKey);
  CHECK(info.is_prober);
  CHECK(info.app_name == "x");
  // Newer Go clients put meshKey first; order never matters to a reader.
  CHECK(decoded(R"({"meshKey":")" + kMeshKey + R"(","version":2,"CanAckPings":false})").mesh_key == kMeshKey);
}

TEST_CASE("info: ClientInfo keys match case-insensitively, with Go's folding", "[crypto]") {
  ClientInfo info = decoded(R"({"VERSION":2,"canackpings":true,"MESHKEY":"k","isprober":true,"appNAME":"n"})");
  CHECK(info.version == 2);
  CHECK(info.can_ack_pings);
  CHECK(info.mesh_key == "k");
  CHECK(info.is_prober);
  CHECK(info.app_name == "n");
  // Go folds rune by rune with ToUpper(ToLower(r)): the Kelvin sign is a K, long s an S, dotted/dotless i an I.
  CHECK(decoded("{\"mesh\xE2\x84\xAA" "ey\":\"k\"}").mesh_key == "k");
  CHECK(decoded(R"({"mesh\u212Aey":"k2"})").mesh_key == "k2");
  CHECK(decoded("{\"\xC4\xB0\xC5\xBF" "Prober\":true}").is_prober);
  CHECK(decoded("{\"Can\xC4\xB1" "ckPings\":true}").can_ack_pings == false);  // ı is an I, but "Canıck" ≠ "CanAck"
  CHECK(decoded("{\"CanAckP\xC4\xB1ngs\":true}").can_ack_pings);
  // Anything else is a different key, and unknown keys are ignored.
  CHECK(decoded(R"({"version ":2,"ver_sion":3,"versio":4})").version == 0);
  CHECK(decoded("{\"v\xC3\xA9rsion\":2}").version == 0);
}

TEST_CASE("info: ClientInfo decoding: unknown fields, null, duplicates, empty meshKey", "[crypto]") {
  ClientInfo info =
      decoded(R"({"version":2,"Future":{"a":[1,2,{"b":null}]},"list":[[]],"n":1.5e300,"CanAckPings":true})");
  CHECK(info.version == 2);
  CHECK(info.can_ack_pings);

  info = decoded(R"({"version":null,"CanAckPings":null,"IsProber":null,"AppName":null})");
  CHECK(info == ClientInfo{});
  CHECK_FALSE(info.mesh_key.has_value());
  // meshKey null reads as present and empty: Tailscale's current key.DERPMesh refuses null like "" (v1.36.2's plain
  // string field ignored it), and the server refuses both.
  info = decoded(R"({"meshKey":null})");
  REQUIRE(info.mesh_key.has_value());
  CHECK(info.mesh_key->empty());

  // The last of repeated keys wins, case-insensitive or not; null leaves the earlier value.
  CHECK(decoded(R"({"version":1,"VERSION":3})").version == 3);
  CHECK(decoded(R"({"version":1,"version":null})").version == 1);
  CHECK(decoded(R"({"meshKey":"first","meshKey":null})").mesh_key == "");

  info = decoded(R"({"meshKey":""})");
  REQUIRE(info.mesh_key.has_value());  // present but empty: not the same as absent; the server decides
  CHECK(info.mesh_key->empty());

  CHECK(decoded("null") == ClientInfo{});  // Go: Unmarshal of null into a struct does nothing
  CHECK(decoded(" \t\r\n{ } \n") == ClientInfo{});
}

TEST_CASE("info: ClientInfo decoding: strings are repaired the way Go repairs them", "[crypto]") {
  CHECK(decoded("{\"AppName\":\"a\xFF" "b\"}").app_name == "a\xEF\xBF\xBD" "b");
  CHECK(decoded("{\"AppName\":\"\xE2\x82\"}").app_name == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(decoded(R"({"AppName":"\ud800x"})").app_name == "\xEF\xBF\xBDx");
  CHECK(decoded(R"({"AppName":"\udc00"})").app_name == "\xEF\xBF\xBD");
  CHECK(decoded(R"({"AppName":"\ud800\ud83d\ude00"})").app_name == "\xEF\xBF\xBD\xF0\x9F\x98\x80");
  CHECK(decoded(R"({"AppName":"\\ud800"})").app_name == "\\ud800");  // an escaped backslash, not an escape
  CHECK(decoded(R"({"AppName":"\u00e9\n\u0000"})").app_name == std::string("\xC3\xA9\n\0", 4));
}

TEST_CASE("info: ClientInfo decoding rejects wrong types and malformed JSON", "[crypto]") {
  const ClientInfo before = decoded(R"({"version":9,"AppName":"keep"})");
  for (const std::string bad : {
           R"({"version":"2"})", R"({"version":2.0})", R"({"version":1e3})", R"({"version":true})",
           R"({"version":[2]})", R"({"version":{}})", R"({"version":2147483648})", R"({"version":-2147483649})",
           R"({"version":99999999999999999999})", R"({"meshKey":5})", R"({"meshKey":false})", R"({"meshKey":[]})",
           R"({"CanAckPings":1})", R"({"CanAckPings":"true"})", R"({"IsProber":0})", R"({"AppName":{}})",
           // malformed, or not an object
           "", " ", "{", "}", R"({"version":2,})", R"({"version":2 "x":1})", R"({"version":02})", R"({'a':1})",
           R"({"a":1} x)", R"({"a":1}{})", "{/*c*/}", "[]", "[{}]", "2", "\"x\"", "true", "nul",
           "\xEF\xBB\xBF{}", "{\"a\":\"\x01\"}", R"({"a":"\x"})", R"({"a":"\u12"})", "{\"a\":1}\xFF",
       }) {
    INFO(bad);
    ClientInfo info = before;
    CHECK(decode_client_info(bad, &info) == DERP_ERR_BAD_JSON);
    CHECK(info == before);  // untouched on error
  }
}

TEST_CASE("info: nesting deeper than Go's 10000 levels is refused", "[crypto]") {
  const auto nested = [](int depth) {  // depth counts the top-level object
    return "{\"x\":" + std::string(static_cast<std::size_t>(depth - 1), '[') +
           std::string(static_cast<std::size_t>(depth - 1), ']') + "}";
  };
  ClientInfo info;
  CHECK(decode_client_info(nested(10000), &info) == DERP_OK);
  CHECK(decode_client_info(nested(10001), &info) == DERP_ERR_BAD_JSON);
}

TEST_CASE("info: ServerInfo decodes with the same rules", "[crypto]") {
  ServerInfo info;
  REQUIRE(decode_server_info(R"({"version":2})", &info) == DERP_OK);
  CHECK(info.version == 2);
  REQUIRE(decode_server_info(
              R"({"tokenbucketbytespersecond":9223372036854775807,"TokenBucketBytesBurst":-5,"x":null})", &info) ==
          DERP_OK);
  CHECK(info.version == 0);
  CHECK(info.token_bucket_bytes_per_second == INT64_MAX);
  CHECK(info.token_bucket_bytes_burst == -5);
  const ServerInfo before = info;
  for (const std::string bad : {R"({"TokenBucketBytesBurst":9223372036854775808})",
                                R"({"TokenBucketBytesBurst":-9223372036854775809})",
                                R"({"TokenBucketBytesPerSecond":"1"})", R"({"version":1.5})", "{"}) {
    INFO(bad);
    CHECK(decode_server_info(bad, &info) == DERP_ERR_BAD_JSON);
    CHECK(info == before);
  }
}

TEST_CASE("info: encode then decode gives the same struct", "[crypto]") {
  ClientInfo info;
  info.version = 2;
  info.mesh_key = kMeshKey;
  info.can_ack_pings = true;
  info.is_prober = true;
  info.app_name = std::string("tab\there \"quoted\" <html> \xE2\x80\xA8 nul") + std::string(1, '\0');
  ClientInfo back;
  REQUIRE(decode_client_info(encode_client_info(info), &back) == DERP_OK);
  CHECK(back == info);

  ServerInfo server{2, 12345, -1};
  ServerInfo server_back;
  REQUIRE(decode_server_info(encode_server_info(server), &server_back) == DERP_OK);
  CHECK(server_back == server);
}
