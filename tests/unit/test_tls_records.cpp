// Our TLS 1.2 record layer after mbedTLS' handshake (record_layer.hpp, record_stream.hpp, the switch in
// session.cpp): which suites switch, records byte-identical to mbedTLS' own for the same keys and sequence
// numbers, application data in the same read as the Finished, and every way a peer can break the record stream
// (flipped bits, replays, truncation, oversized or mislabelled records, alerts, renegotiation, close_notify).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <mbedtls/ssl_ciphersuites.h>
#include <sodium.h>

#include "derp/common.h"
#include "test_tls_helpers.hpp"
#include "tls/record_layer.hpp"
#include "tls/session.hpp"

using namespace derp::tls;
using namespace derp::tls::test;
using derp::Bytes;
using derp::MutableBytes;

namespace {

const int kEcdsaAes256[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0};
const int kEcdsaChaCha[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};
const int kEcdsaAes128[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0};

bool aes_available() {
  REQUIRE(sodium_init() >= 0);
  return crypto_aead_aes256gcm_is_available() != 0;
}

std::string pattern(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::vector<std::uint8_t> take_pending(Session& s) {
  const Bytes p = s.pending_ciphertext();
  std::vector<std::uint8_t> out(p.begin(), p.end());
  s.consume_ciphertext(out.size());
  return out;
}

// Feeds all of `bytes` to `to` (as one read when it fits) and reads its plaintext.
void deliver(const std::vector<std::uint8_t>& bytes, Endpoint& to) {
  std::size_t offset = 0;
  for (int guard = 0; offset < bytes.size() && to.error == DERP_OK && guard < 1000; ++guard) {
    std::size_t used = 0;
    const int rc = to.session->feed_ciphertext(Bytes(bytes).subspan(offset), &used);
    if (rc != DERP_OK) to.error = rc;
    offset += used;
    to.read_all();
  }
  if (to.error == DERP_OK) to.read_all();
}

// A record sealed with `keys` (a forger holding the peer's keys).
std::vector<std::uint8_t> seal_record(RecordLayer& layer, ContentType type, std::string_view plaintext) {
  std::vector<std::uint8_t> record(layer.seal_overhead() + plaintext.size());
  std::memcpy(record.data() + layer.seal_headroom(), plaintext.data(), plaintext.size());
  REQUIRE(layer.seal(type, record.data(), plaintext.size()) == DERP_OK);
  return record;
}

// A handshake where the client keeps mbedTLS' record path (so a test holds its keys) and the server switches.
struct ForgeryBench {
  std::unique_ptr<ServerConfig> server_config = self_signed_server();
  std::unique_ptr<ClientConfig> client_cfg = client_config();
  Connection c;
  std::unique_ptr<RecordLayer> forger;  // seals as the client would: client write keys, its next sequence number

  explicit ForgeryBench(const int* suite, Aead aead) {
    client_cfg->set_ciphersuites(suite);
    REQUIRE(Session::create_client(*client_cfg, {"127.0.0.1", server_config->cert_name()}, &c.client.session,
                                   nullptr) == DERP_OK);
    c.client.session->keep_mbedtls_records_for_test();
    REQUIRE(Session::create_server(*server_config, &c.server.session) == DERP_OK);
    pump(c.client, c.server);
    REQUIRE(c.client.session->handshake_done());
    REQUIRE(c.server.session->handshake_done());
    REQUIRE(c.server.session->on_record_layer());
    REQUIRE_FALSE(c.client.session->on_record_layer());
    TrafficKeys keys;
    REQUIRE(c.client.session->keys_for_test(aead, 1, 1, &keys));
    REQUIRE(RecordLayer::create(keys, &forger) == DERP_OK);
  }

  // The server's verdict on `bytes` sent as the client: the error it reports, and the alert it sent back (as
  // the client's mbedTLS reads it: its error code's text), if any.
  int server_takes(const std::vector<std::uint8_t>& bytes) {
    deliver(bytes, c.server);
    return c.server.error;
  }
};

struct Suite {
  const char* name;
  const int* list;
  Aead aead;
};

std::vector<Suite> fast_suites() {
  std::vector<Suite> suites = {{"ChaCha20-Poly1305", kEcdsaChaCha, Aead::kChaCha20Poly1305}};
  if (aes_available()) suites.push_back({"AES-256-GCM", kEcdsaAes256, Aead::kAes256Gcm});
  return suites;
}

}  // namespace

TEST_CASE("tls records: our suites switch to our record layer, AES-128-GCM stays on mbedTLS", "[tls]") {
  const auto server_config = self_signed_server();
  {
    const auto client_cfg = client_config();  // the policy's own order
    Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
    REQUIRE(c.server.session->on_record_layer());
    REQUIRE(c.client.session->on_record_layer());
    CHECK(std::string(c.server.session->record_path()) ==
          (aes_available() ? "AES-256-GCM (libsodium)" : "ChaCha20-Poly1305 (libsodium)"));
    CHECK(c.server.session->alpn_protocol() == "http/1.1");
    CHECK(c.client.session->alpn_protocol() == "http/1.1");
  }
  const auto client_cfg = client_config();
  client_cfg->set_ciphersuites(kEcdsaAes128);
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
  REQUIRE(c.server.session->handshake_done());
  CHECK_FALSE(c.server.session->on_record_layer());
  CHECK(std::string(c.server.session->record_path()) == "mbedTLS");
  send_all(c.client, c.server, "still works");
  CHECK(c.server.received == "still works");
}

TEST_CASE("tls records: data both ways on each suite, in any split", "[tls]") {
  const auto server_config = self_signed_server();
  for (const Suite& suite : fast_suites()) {
    const std::size_t piece = GENERATE(std::size_t{1} << 20, std::size_t{1}, std::size_t{777});
    CAPTURE(suite.name, piece);
    const auto client_cfg = client_config();
    client_cfg->set_ciphersuites(suite.list);
    Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config, piece);
    REQUIRE(c.server.session->on_record_layer());
    REQUIRE(c.client.session->on_record_layer());
    const std::string up = pattern(piece == 1 ? 20000 : 70 * 1024 + 5, 3);
    send_all(c.client, c.server, up, piece);
    CHECK(c.server.received == up);
    const std::string down = pattern(piece == 1 ? 20000 : 300 * 1024 + 17, 4);
    send_all(c.server, c.client, down, piece);
    CHECK(c.client.received == down);
    CHECK(c.client.error == DERP_OK);
    CHECK(c.server.error == DERP_OK);
  }
}

TEST_CASE("tls records: byte-identical to mbedTLS' records for the same keys and sequence numbers", "[tls]") {
  for (const Suite& suite : fast_suites()) {
    CAPTURE(suite.name);
    ForgeryBench b(suite.list, suite.aead);
    // Client to server: mbedTLS seals, our layer (the forger, same keys, same sequence numbers) seals the same.
    for (int i = 0; i < 3; ++i) {
      const std::string text = pattern(static_cast<std::size_t>(1 + i * 5000), static_cast<unsigned>(10 + i));
      std::size_t accepted = 0;
      REQUIRE(b.c.client.session->write_plaintext(as_bytes(text), &accepted) == DERP_OK);
      REQUIRE(accepted == text.size());
      const std::vector<std::uint8_t> theirs = take_pending(*b.c.client.session);
      const std::vector<std::uint8_t> ours = seal_record(*b.forger, ContentType::kApplicationData, text);
      CHECK(theirs == ours);
      b.c.server.received.clear();
      deliver(theirs, b.c.server);  // and our record layer opens mbedTLS' record
      CHECK(b.c.server.received == text);
    }
    // Server to client: our layer seals, the client's mbedTLS opens; then a second forger holding the server's
    // write keys (the client's read keys) reproduces the server's record byte for byte.
    TrafficKeys client_keys;
    REQUIRE(b.c.client.session->keys_for_test(suite.aead, 4, 1, &client_keys));
    TrafficKeys server_keys = client_keys;
    std::swap(server_keys.write, server_keys.read);
    std::unique_ptr<RecordLayer> as_server;
    REQUIRE(RecordLayer::create(server_keys, &as_server) == DERP_OK);
    const std::string text = "HTTP/1.1 101 Switching Protocols\r\n\r\n" + pattern(300, 7);
    std::size_t accepted = 0;
    REQUIRE(b.c.server.session->write_plaintext(as_bytes(text), &accepted) == DERP_OK);
    const std::vector<std::uint8_t> ours = take_pending(*b.c.server.session);
    CHECK(ours == seal_record(*as_server, ContentType::kApplicationData, text));
    deliver(ours, b.c.client);
    CHECK(b.c.client.received == text);
    CHECK(b.c.client.error == DERP_OK);
  }
}

TEST_CASE("tls records: RFC 7905 nonce and RFC 5288 explicit nonce on the wire", "[tls]") {
  // Independent of mbedTLS: the record header, the explicit nonce (GCM) and the AEAD construction by hand.
  TrafficKeys keys;
  for (int i = 0; i < 32; ++i) keys.write.key[i] = static_cast<std::uint8_t>(i);
  for (int i = 0; i < 12; ++i) keys.write.iv[i] = static_cast<std::uint8_t>(0xA0 + i);
  keys.write.seq = 0x0102030405060708ULL;
  keys.read = keys.write;
  const std::string text = "derp";
  std::uint8_t ad[13] = {1, 2, 3, 4, 5, 6, 7, 8, 23, 3, 3, 0, 4};

  keys.aead = Aead::kChaCha20Poly1305;
  std::unique_ptr<RecordLayer> chacha;
  REQUIRE(RecordLayer::create(keys, &chacha) == DERP_OK);
  const std::vector<std::uint8_t> r = seal_record(*chacha, ContentType::kApplicationData, text);
  REQUIRE(r.size() == 5 + 4 + 16);
  CHECK(r[0] == 23);
  CHECK(r[1] == 3);
  CHECK(r[2] == 3);
  CHECK(derp::load_be16(r.data() + 3) == 20);
  std::uint8_t nonce[12];
  for (int i = 0; i < 12; ++i) nonce[i] = keys.write.iv[i];
  for (int i = 0; i < 8; ++i) nonce[4 + i] ^= ad[i];
  std::uint8_t expect[4 + 16];
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(expect, &len, reinterpret_cast<const unsigned char*>(text.data()), 4, ad,
                                            13, nullptr, nonce, keys.write.key);
  CHECK(std::memcmp(r.data() + 5, expect, sizeof expect) == 0);
  CHECK(chacha->write_seq() == keys.write.seq + 1);

  if (!aes_available()) return;
  keys.aead = Aead::kAes256Gcm;
  std::unique_ptr<RecordLayer> gcm;
  REQUIRE(RecordLayer::create(keys, &gcm) == DERP_OK);
  const std::vector<std::uint8_t> g = seal_record(*gcm, ContentType::kApplicationData, text);
  REQUIRE(g.size() == 5 + 8 + 4 + 16);
  CHECK(derp::load_be16(g.data() + 3) == 28);
  CHECK(std::memcmp(g.data() + 5, ad, 8) == 0);  // explicit nonce = sequence number
  std::uint8_t gnonce[12];
  std::memcpy(gnonce, keys.write.iv, 4);
  std::memcpy(gnonce + 4, ad, 8);
  crypto_aead_aes256gcm_encrypt(expect, &len, reinterpret_cast<const unsigned char*>(text.data()), 4, ad, 13, nullptr,
                                gnonce, keys.write.key);
  CHECK(std::memcmp(g.data() + 13, expect, sizeof expect) == 0);
  // And each opens its own record (read keys = write keys here).
  std::vector<std::uint8_t> copy = g;
  const RecordLayer::OpenResult opened = gcm->open(MutableBytes(copy));
  REQUIRE(opened.status == RecordLayer::Opened::kRecord);
  CHECK(std::string(reinterpret_cast<const char*>(opened.plaintext.data()), opened.plaintext.size()) == text);
}

TEST_CASE("tls records: sequence numbers end at 2^64 - 1", "[tls]") {
  TrafficKeys keys;
  keys.aead = Aead::kChaCha20Poly1305;
  keys.write.seq = std::numeric_limits<std::uint64_t>::max();
  keys.read.seq = std::numeric_limits<std::uint64_t>::max();
  std::unique_ptr<RecordLayer> layer;
  REQUIRE(RecordLayer::create(keys, &layer) == DERP_OK);
  std::vector<std::uint8_t> record(layer->seal_overhead() + 1);
  REQUIRE(layer->seal(ContentType::kApplicationData, record.data(), 1) == DERP_OK);  // the last one allowed
  std::vector<std::uint8_t> again(record.size());
  CHECK(layer->seal(ContentType::kApplicationData, again.data(), 1) == DERP_ERR_TLS_PROTOCOL);
  // Reading: the record with the last number opens, nothing after it.
  std::vector<std::uint8_t> copy = record;
  CHECK(layer->open(MutableBytes(copy)).status == RecordLayer::Opened::kRecord);
  copy = record;
  const RecordLayer::OpenResult r = layer->open(MutableBytes(copy));
  CHECK(r.status == RecordLayer::Opened::kError);
}

TEST_CASE("tls records: application data in the same read as the Finished, both directions", "[tls]") {
  for (const Suite& suite : fast_suites()) {
    CAPTURE(suite.name);
    const auto server_config = self_signed_server();
    const auto client_cfg = client_config();
    client_cfg->set_ciphersuites(suite.list);

    // The server's Finished and its first application data in one read of the client's.
    Connection c;
    REQUIRE(Session::create_client(*client_cfg, {"127.0.0.1", server_config->cert_name()}, &c.client.session,
                                   nullptr) == DERP_OK);
    REQUIRE(Session::create_server(*server_config, &c.server.session) == DERP_OK);
    deliver(take_pending(*c.client.session), c.server);  // ClientHello
    deliver(take_pending(*c.server.session), c.client);  // ServerHello .. ServerHelloDone
    deliver(take_pending(*c.client.session), c.server);  // ClientKeyExchange, ChangeCipherSpec, Finished
    REQUIRE(c.server.session->handshake_done());
    REQUIRE(c.server.session->on_record_layer());
    std::size_t accepted = 0;
    REQUIRE(c.server.session->write_plaintext(as_bytes("first frames"), &accepted) == DERP_OK);
    REQUIRE(accepted == 12);
    deliver(take_pending(*c.server.session), c.client);  // ChangeCipherSpec, Finished, application data
    REQUIRE(c.client.error == DERP_OK);
    REQUIRE(c.client.session->on_record_layer());
    CHECK(c.client.received == "first frames");

    // A client that sends its HTTP upgrade request in the same flight as its Finished (False Start style): the
    // record rides behind the Finished in one read of the server's.
    ForgeryBench b(suite.list, suite.aead);  // (only for a client that keeps mbedTLS: build one by hand below)
    Connection d;
    REQUIRE(Session::create_client(*b.client_cfg, {"127.0.0.1", b.server_config->cert_name()}, &d.client.session,
                                   nullptr) == DERP_OK);
    d.client.session->keep_mbedtls_records_for_test();
    REQUIRE(Session::create_server(*b.server_config, &d.server.session) == DERP_OK);
    deliver(take_pending(*d.client.session), d.server);
    deliver(take_pending(*d.server.session), d.client);
    std::vector<std::uint8_t> flight = take_pending(*d.client.session);  // ends with the client's Finished
    TrafficKeys keys;
    REQUIRE(d.client.session->keys_for_test(suite.aead, 1, 1, &keys));
    std::unique_ptr<RecordLayer> forger;
    REQUIRE(RecordLayer::create(keys, &forger) == DERP_OK);
    const std::string request = "GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n";
    const std::vector<std::uint8_t> record = seal_record(*forger, ContentType::kApplicationData, request);
    flight.insert(flight.end(), record.begin(), record.end());
    deliver(flight, d.server);
    REQUIRE(d.server.error == DERP_OK);
    REQUIRE(d.server.session->on_record_layer());
    CHECK(d.server.received == request);
  }
}

TEST_CASE("tls records: tampering closes the connection with a clear reason", "[tls]") {
  for (const Suite& suite : fast_suites()) {
    CAPTURE(suite.name);
    const std::string text = pattern(600, 9);
    const std::string what = GENERATE(as<std::string>{}, "ciphertext bit", "tag bit", "replay", "truncated",
                                      "header length", "after close_notify", "oversized", "version", "type 20",
                                      "type 24", "renegotiation", "warning alert", "fatal alert", "long alert");
    CAPTURE(what);
    ForgeryBench b(suite.list, suite.aead);
    // Records are sealed in the order the server expects them (each one takes the forger's next number).
    const bool starts_with_data = what == "ciphertext bit" || what == "tag bit" || what == "replay" ||
                                  what == "truncated" || what == "header length" || what == "after close_notify" ||
                                  what == "version";
    std::vector<std::uint8_t> r;
    if (starts_with_data) r = seal_record(*b.forger, ContentType::kApplicationData, text);
    int expect = DERP_ERR_TLS_PROTOCOL;
    std::string delivered_first;
    if (what == "ciphertext bit") {
      r[r.size() - 20] ^= 0x04;
    } else if (what == "tag bit") {
      r.back() ^= 0x80;
    } else if (what == "replay") {
      REQUIRE(b.server_takes(r) == DERP_OK);
      delivered_first = text;
    } else if (what == "truncated") {
      // The record cut short, and the next record right behind it: the bytes no longer add up.
      const std::vector<std::uint8_t> next = seal_record(*b.forger, ContentType::kApplicationData, "next");
      r.resize(r.size() - 3);
      r.insert(r.end(), next.begin(), next.end());
    } else if (what == "header length") {
      derp::store_be16(r.data() + 3, static_cast<std::uint16_t>(derp::load_be16(r.data() + 3) - 1));
      r.pop_back();
    } else if (what == "after close_notify") {
      // Data, close_notify and data again in one read: the first is delivered, the last never.
      const std::vector<std::uint8_t> bye = seal_record(*b.forger, ContentType::kAlert, std::string("\x01\x00", 2));
      const std::vector<std::uint8_t> more = seal_record(*b.forger, ContentType::kApplicationData, "too late");
      r.insert(r.end(), bye.begin(), bye.end());
      r.insert(r.end(), more.begin(), more.end());
      expect = DERP_ERR_TLS_CLOSED;
      delivered_first = text;
    } else if (what == "oversized") {
      r = {23, 3, 3, 0, 0};
      derp::store_be16(r.data() + 3, 16384 + 2048 + 1);  // refused on the header alone
    } else if (what == "version") {
      r[2] = 1;
    } else if (what == "type 20") {
      r = seal_record(*b.forger, ContentType::kChangeCipherSpec, "\x01");
    } else if (what == "type 24") {
      r = seal_record(*b.forger, static_cast<ContentType>(24), "heartbeat");
    } else if (what == "renegotiation") {
      r = seal_record(*b.forger, ContentType::kHandshake, std::string("\x01\x00\x00\x00", 4));
    } else if (what == "warning alert") {
      r = seal_record(*b.forger, ContentType::kAlert, std::string("\x01\x5a", 2));  // user_canceled
    } else if (what == "fatal alert") {
      r = seal_record(*b.forger, ContentType::kAlert, std::string("\x02\x28", 2));  // handshake_failure
    } else if (what == "long alert") {
      r = seal_record(*b.forger, ContentType::kAlert, std::string("\x01\x00\x00", 3));
    }
    b.c.server.received.clear();
    CHECK(b.server_takes(r) == expect);
    CHECK(b.c.server.received == (what == "after close_notify" ? delivered_first : ""));
    INFO(b.c.server.session->error_detail());
    if (expect == DERP_ERR_TLS_CLOSED) {
      CHECK(b.c.server.session->peer_closed());
      CHECK(b.c.server.session->error() == DERP_OK);
    } else {
      CHECK(b.c.server.session->error() == DERP_ERR_TLS_PROTOCOL);
      CHECK_FALSE(b.c.server.session->error_detail().empty());
    }
    // Every later call reports the same; what the server says back is one alert record, opened here with the
    // server's write keys (the client's read keys): the alert RFC 5246 §7.2 names for the case; none for a peer's
    // own alert.
    std::size_t used = 0;
    CHECK(b.c.server.session->feed_ciphertext(Bytes(r), &used) == expect);
    std::vector<std::uint8_t> answer = take_pending(*b.c.server.session);
    if (what == "warning alert" || what == "fatal alert") {
      CHECK(answer.empty());
    } else {
      TrafficKeys keys;
      REQUIRE(b.c.client.session->keys_for_test(suite.aead, 1, 1, &keys));
      std::unique_ptr<RecordLayer> reader;
      REQUIRE(RecordLayer::create(keys, &reader) == DERP_OK);
      const RecordLayer::OpenResult alert = reader->open(MutableBytes(answer));
      REQUIRE(alert.status == RecordLayer::Opened::kRecord);
      CHECK(alert.record_len == answer.size());
      CHECK(alert.type == 21);
      REQUIRE(alert.plaintext.size() == 2);
      int level = 2;
      AlertCode code = AlertCode::kBadRecordMac;
      if (what == "after close_notify") {
        level = 1;
        code = AlertCode::kCloseNotify;
      } else if (what == "renegotiation") {
        level = 1;
        code = AlertCode::kNoRenegotiation;
      } else if (what == "oversized") {
        code = AlertCode::kRecordOverflow;
      } else if (what == "version") {
        code = AlertCode::kProtocolVersion;
      } else if (what == "type 20" || what == "type 24") {
        code = AlertCode::kUnexpectedMessage;
      } else if (what == "long alert") {
        code = AlertCode::kDecodeError;
      }
      CHECK(alert.plaintext[0] == level);
      CHECK(alert.plaintext[1] == static_cast<std::uint8_t>(code));
    }
  }
}

TEST_CASE("tls records: close_notify is answered, empty records are skipped", "[tls]") {
  for (const Suite& suite : fast_suites()) {
    CAPTURE(suite.name);
    ForgeryBench b(suite.list, suite.aead);
    std::vector<std::uint8_t> r = seal_record(*b.forger, ContentType::kApplicationData, "");
    const std::vector<std::uint8_t> data = seal_record(*b.forger, ContentType::kApplicationData, "after empty");
    r.insert(r.end(), data.begin(), data.end());
    REQUIRE(b.server_takes(r) == DERP_OK);
    CHECK(b.c.server.received == "after empty");

    // The client closes; the server reports the orderly close and answers with its own close_notify, which the
    // client's mbedTLS reads as the peer's close.
    const std::vector<std::uint8_t> bye = seal_record(*b.forger, ContentType::kAlert, std::string("\x01\x00", 2));
    CHECK(b.server_takes(bye) == DERP_ERR_TLS_CLOSED);
    CHECK(b.c.server.session->peer_closed());
    std::size_t accepted = 0;
    CHECK(b.c.server.session->write_plaintext(as_bytes("no"), &accepted) == DERP_ERR_TLS_CLOSED);
    const std::vector<std::uint8_t> answer = take_pending(*b.c.server.session);
    REQUIRE_FALSE(answer.empty());
    deliver(answer, b.c.client);
    CHECK(b.c.client.error == DERP_ERR_TLS_CLOSED);
    CHECK(b.c.client.session->peer_closed());
  }
}

TEST_CASE("tls records: open_next opens records in place and across splits", "[tls]") {
  for (const Suite& suite : fast_suites()) {
    CAPTURE(suite.name);
    ForgeryBench b(suite.list, suite.aead);
    std::vector<std::uint8_t> stream;
    std::string expect;
    for (int i = 0; i < 5; ++i) {
      const std::string text = pattern(static_cast<std::size_t>(i * 3000), static_cast<unsigned>(20 + i));
      const std::vector<std::uint8_t> r = seal_record(*b.forger, ContentType::kApplicationData, text);
      stream.insert(stream.end(), r.begin(), r.end());
      expect += text;
    }
    const std::size_t piece = GENERATE(std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{1} << 20);
    CAPTURE(piece);
    std::string got;
    std::size_t in_place = 0;
    for (std::size_t at = 0; at < stream.size();) {
      std::vector<std::uint8_t> read(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                     stream.begin() + static_cast<std::ptrdiff_t>(std::min(stream.size(), at + piece)));
      MutableBytes in(read);
      for (int guard = 0; guard < 100; ++guard) {
        std::size_t used = 0;
        MutableBytes plaintext;
        REQUIRE(b.c.server.session->open_next(in, &used, &plaintext) == DERP_OK);
        if (!plaintext.empty() && plaintext.data() >= read.data() && plaintext.data() < read.data() + read.size()) {
          ++in_place;
        }
        got.append(reinterpret_cast<const char*>(plaintext.data()), plaintext.size());
        in = in.subspan(used);
        if (used == 0 && plaintext.empty()) break;
      }
      at += read.size();
    }
    CHECK(got == expect);
    if (piece == (std::size_t{1} << 20)) CHECK(in_place == 4);  // whole records in the read: none copied
  }
}

TEST_CASE("tls records: write_gather packs small frames into one record", "[tls]") {
  const auto server_config = self_signed_server();
  const auto client_cfg = client_config();
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
  REQUIRE(c.server.session->on_record_layer());
  std::vector<std::string> frames;
  std::vector<Bytes> views;
  std::string all;
  for (int i = 0; i < 40; ++i) frames.push_back(pattern(100 + static_cast<std::size_t>(i), static_cast<unsigned>(i)));
  for (const std::string& f : frames) {
    views.push_back(as_bytes(f));
    all += f;
  }
  std::size_t accepted = 0;
  REQUIRE(c.server.session->write_gather(views, &accepted) == DERP_OK);
  REQUIRE(accepted == all.size());
  const std::vector<std::uint8_t> out = take_pending(*c.server.session);
  const std::size_t overhead = out.size() - all.size();
  CHECK(overhead <= 5 + 8 + 16);  // one record for all 40 frames
  deliver(out, c.client);
  CHECK(c.client.received == all);
  // Over 16 KiB: records of 16 KiB each, in order.
  const std::string big = pattern(40000, 99);
  const Bytes two[] = {as_bytes(big).first(10000), as_bytes(big).subspan(10000)};
  REQUIRE(c.server.session->write_gather(two, &accepted) == DERP_OK);
  REQUIRE(accepted == big.size());
  c.client.received.clear();
  deliver(take_pending(*c.server.session), c.client);
  CHECK(c.client.received == big);
}

TEST_CASE("tls records: hold_pending keeps the bytes under a write in place", "[tls]") {
  const auto server_config = self_signed_server();
  const auto client_cfg = client_config();
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
  std::size_t accepted = 0;
  REQUIRE(c.server.session->write_plaintext(as_bytes("first"), &accepted) == DERP_OK);
  const Bytes held = c.server.session->pending_ciphertext();
  const std::vector<std::uint8_t> copy(held.begin(), held.end());
  c.server.session->hold_pending(true);
  const std::string more = pattern(50000, 5);
  REQUIRE(c.server.session->write_plaintext(as_bytes(more), &accepted) == DERP_OK);
  REQUIRE(accepted == more.size());
  CHECK(c.server.session->pending_ciphertext().data() == held.data());  // not moved
  CHECK(std::vector<std::uint8_t>(held.begin(), held.end()) == copy);   // not changed
  c.server.session->consume_ciphertext(held.size());
  c.server.session->hold_pending(false);
  std::vector<std::uint8_t> all = copy;
  const std::vector<std::uint8_t> rest = take_pending(*c.server.session);
  all.insert(all.end(), rest.begin(), rest.end());
  deliver(all, c.client);
  CHECK(c.client.received == "first" + more);
}

TEST_CASE("tls records: ECDHE-RSA suites switch too (an RSA certificate made by openssl)", "[tls]") {
  if (access("/usr/bin/openssl", X_OK) != 0) {
    WARN("no /usr/bin/openssl: skipped");
    return;
  }
  char dir_template[] = "/tmp/derp-tls-rsa-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  REQUIRE(dir != nullptr);
  const std::string key_path = std::string(dir) + "/key.pem";
  const std::string cert_path = std::string(dir) + "/cert.pem";
  const std::string command = "/usr/bin/openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                              "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                              key_path + " -out " + cert_path + " >/dev/null 2>&1";
  const int rc = std::system(command.c_str());
  const auto slurp = [](const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    std::string text;
    if (f == nullptr) return text;
    char chunk[4096];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) text.append(chunk, n);
    std::fclose(f);
    return text;
  };
  const std::string cert_pem = slurp(cert_path);
  const std::string key_pem = slurp(key_path);
  std::remove(key_path.c_str());
  std::remove(cert_path.c_str());
  rmdir(dir);
  REQUIRE(rc == 0);
  std::unique_ptr<ServerConfig> server_config;
  std::string detail;
  INFO(detail);
  REQUIRE(ServerConfig::from_pem(cert_pem, key_pem, "127.0.0.1", &server_config, &detail) == DERP_OK);

  static const int kRsaChaCha[] = {MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 0};
  static const int kRsaAes256[] = {MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, 0};
  std::vector<std::pair<const int*, const char*>> suites = {{kRsaChaCha, "ChaCha20-Poly1305 (libsodium)"}};
  if (aes_available()) suites.emplace_back(kRsaAes256, "AES-256-GCM (libsodium)");
  for (const auto& [list, path] : suites) {
    CAPTURE(path);
    const auto client_cfg = client_config();
    client_cfg->set_ciphersuites(list);
    Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
    INFO(c.client.session->error_detail() << " / " << c.server.session->error_detail());
    REQUIRE(c.server.session->on_record_layer());
    REQUIRE(c.client.session->on_record_layer());
    CHECK(std::string(c.server.session->record_path()) == path);
    const std::string text = pattern(40000, 77);
    send_all(c.client, c.server, text);
    CHECK(c.server.received == text);
    send_all(c.server, c.client, text);
    CHECK(c.client.received == text);
  }
}

TEST_CASE("tls records: our client offers ChaCha20-Poly1305 before any AES-GCM suite, so Go's server picks it",
          "[tls]") {
  // Go's crypto/tls server picks AES-128-GCM (which our record layer cannot carry) only when the client's first
  // AEAD suite is AES-GCM; otherwise ChaCha20-Poly1305 (tls_policy.cpp).
  auto client_cfg = client_config("", /*insecure=*/true);
  std::unique_ptr<Session> client;
  REQUIRE(Session::create_client(*client_cfg, {"127.0.0.1", ""}, &client, nullptr) == DERP_OK);
  const std::vector<std::uint8_t> hello = take_pending(*client);
  // record header (5), handshake header (4), client_version (2), random (32), session_id (1 + n), cipher_suites.
  std::size_t at = 5 + 4 + 2 + 32;
  REQUIRE(hello.size() > at + 3);
  at += 1 + hello[at];
  const std::size_t suites_len = (std::size_t{hello[at]} << 8) | hello[at + 1];
  at += 2;
  REQUIRE(hello.size() >= at + suites_len);
  std::vector<int> suites;
  for (std::size_t i = 0; i + 1 < suites_len; i += 2) suites.push_back((hello[at + i] << 8) | hello[at + i + 1]);
  const auto is_aead = [](int id) {
    return id == MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 ||
           id == MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 ||
           id == MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 || id == MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 ||
           id == MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 || id == MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;
  };
  const auto first_aead = std::find_if(suites.begin(), suites.end(), is_aead);
  REQUIRE(first_aead != suites.end());
  CHECK(*first_aead == MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256);
  // AES-128-GCM is still offered, after the suites our record layer carries.
  const auto aes128 = std::find(suites.begin(), suites.end(), MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
  const auto aes256 = std::find(suites.begin(), suites.end(), MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
  REQUIRE(aes128 != suites.end());
  REQUIRE(aes256 != suites.end());
  CHECK(aes256 < aes128);
}
