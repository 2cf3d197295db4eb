// -verify-client-url (uv_admission.hpp) against an admission stub served on the test's own loop: allowed and
// refused keys, the request's exact body, an unreachable URL with fail-open and fail-closed, a slow answer that
// holds only its own client (others are admitted meanwhile, and what the slow one sent early is delivered after),
// answers that are not 200 or not {"Allow":true}, and the per-check time bound. Every wait is bounded.
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto/key_text.hpp"
#include "http/admission.hpp"
#include "http/response_reader.hpp"
#include "support/uv_client_test_loop.hpp"
#include "uv/uv_admission.hpp"

using derp::uv::UvAdmission;
using derp::uv::UvClient;
using namespace derp::uvclienttest;

namespace {

// A tiny HTTP server on the loop: reads one request per connection and answers what decide() says for the
// NodePublic in its body. "hold" keeps the answer back until release() (or forever).
class AdmissionStub {
 public:
  using Decide = std::function<std::string(const std::string& node_public)>;  // "allow", "deny", "hold", or a raw answer

  AdmissionStub(uv_loop_t* loop, Decide decide) : decide_(std::move(decide)) {
    uv_tcp_init(loop, &listener_);
    listener_.data = this;
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&a), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16, [](uv_stream_t* s, int status) {
      if (status == 0) static_cast<AdmissionStub*>(s->data)->accept();
    });
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.sin_port);
  }
  ~AdmissionStub() { close(); }
  void close() {
    if (closed_) return;
    closed_ = true;
    for (auto& c : conns_) {
      if (!c->closing) close_conn(c.get());
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  }

  std::string url(const std::string& path = "/admit") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Answers every held request with `answer`.
  void release(const std::string& answer) {
    for (auto& c : conns_) {
      if (c->held && !c->closing) {
        c->held = false;
        reply(c.get(), answer);
      }
    }
  }
  std::vector<std::string> requests;  // head + body as received
  int held() const {
    int n = 0;
    for (const auto& c : conns_) n += c->held && !c->closing ? 1 : 0;
    return n;
  }

 private:
  struct Conn {
    uv_tcp_t tcp;
    AdmissionStub* stub;
    std::string in;
    bool held = false;
    bool closing = false;
    char buf[4096];
  };

  void accept() {
    auto c = std::make_unique<Conn>();
    c->stub = this;
    uv_tcp_init(listener_.loop, &c->tcp);
    c->tcp.data = c.get();
    if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_), reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
          auto* conn = static_cast<Conn*>(h->data);
          *b = uv_buf_init(conn->buf, sizeof conn->buf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* conn = static_cast<Conn*>(s->data);
          if (n < 0) {
            if (!conn->closing) conn->stub->close_conn(conn);
            return;
          }
          if (conn->closing) return;
          conn->in.append(b->base, static_cast<std::size_t>(n));
          conn->stub->on_bytes(conn);
        });
    conns_.push_back(std::move(c));
  }

  void on_bytes(Conn* c) {
    const auto end = c->in.find("\r\n\r\n");
    if (end == std::string::npos || c->held) return;
    const auto cl = c->in.find("Content-Length: ");
    const std::size_t len = cl == std::string::npos ? 0 : std::stoul(c->in.substr(cl + 16));
    if (c->in.size() < end + 4 + len) return;
    requests.push_back(c->in);
    const std::string body = c->in.substr(end + 4, len);
    const auto k = body.find("nodekey:");
    const std::string key = k == std::string::npos ? "" : body.substr(k, 8 + 64);
    const std::string what = decide_(key);
    if (what == "hold") {
      c->held = true;
      return;
    }
    reply(c, what);
  }

  void reply(Conn* c, const std::string& what) {
    std::string answer = what;
    if (what == "allow" || what == "deny") {
      const std::string body = what == "allow" ? "{\"Allow\":true}\n" : "{\"Allow\":false}\n";
      answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    }
    auto* w = new WriteReq{{}, answer};
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1,
             [](uv_write_t* r, int) { delete reinterpret_cast<WriteReq*>(r); });
    // Shut down after the write (a close would cancel it), then close.
    auto* sd = new uv_shutdown_t;
    sd->data = c;
    c->closing = true;
    if (uv_shutdown(sd, reinterpret_cast<uv_stream_t*>(&c->tcp), [](uv_shutdown_t* req, int) {
          auto* conn = static_cast<Conn*>(req->data);
          delete req;
          uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), nullptr);
        }) != 0) {
      delete sd;
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), nullptr);
    }
  }

  void close_conn(Conn* c) {
    c->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), nullptr);
  }

  struct WriteReq {
    uv_write_t req;
    std::string data;
  };

  Decide decide_;
  uv_tcp_t listener_{};
  int port_ = 0;
  bool closed_ = false;
  std::vector<std::unique_ptr<Conn>> conns_;  // freed with the stub, after the loop closed their handles
};

struct Admitted {
  TestLoop loop;
  std::unique_ptr<derp::uv::UvServer> server;
  std::unique_ptr<UvAdmission> admission;
  std::vector<std::string> log;

  bool start(derp::uv::UvAdmissionOptions o) {
    server = start_server(loop.get());
    if (!server) return false;
    o.log = [this](derp::server::LogLevel, std::string_view line) { log.emplace_back(line); };
    std::string detail;
    return UvAdmission::create(loop.get(), server->core(), std::move(o), &admission, &detail) == DERP_OK;
  }
  std::uint64_t denied() const {
    return server->counters().handshake_failures[static_cast<std::size_t>(derp::server::HandshakeFailure::denied)];
  }
  bool logged(const std::string& needle) const {
    for (const auto& l : log) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::unique_ptr<UvClient> client(Recorder* r) {
    auto o = client_options(url_for(server->tcp_addresses().at(0)));
    o.reconnect = false;
    std::unique_ptr<UvClient> c;
    std::string detail;
    if (UvClient::create(loop.get(), std::move(o), r, &c, &detail) != DERP_OK) return nullptr;
    c->start();
    return c;
  }
  void finish(AdmissionStub* stub, std::vector<std::unique_ptr<UvClient>*> clients) {
    for (auto* c : clients) (*c)->stop();
    admission.reset();
    CHECK(stop_server(loop, *server));
    server.reset();
    if (stub != nullptr) stub->close();
    for (auto* c : clients) c->reset();
    CHECK(loop.finish() == 0);
  }
};

}  // namespace

TEST_CASE("admission: the request derper sends, and answers judged as derper judges them", "[http][admission]") {
  CHECK(derp::http::admission_request_body("nodekey:ab", "127.0.0.1") ==
        "{\"NodePublic\":\"nodekey:ab\",\"Source\":\"127.0.0.1\"}");
  const std::string req = derp::http::admission_request("h:8080", "/admit", "{}");
  CHECK(req.rfind("POST /admit HTTP/1.1\r\nHost: h:8080\r\n", 0) == 0);
  CHECK(req.find("Content-Length: 2\r\n") != std::string::npos);
  std::string why;
  CHECK(derp::http::admission_allows("{\"Allow\":true}\n", &why));
  CHECK(derp::http::admission_allows("{\"allow\":true,\"Other\":[1,{\"x\":\"}\"}]}", &why));  // Go: any case
  CHECK(derp::http::admission_allows("{\"Allow\":true} trailing bytes", &why));  // the first value only
  CHECK_FALSE(derp::http::admission_allows("{\"Allow\":false}", &why));
  CHECK_FALSE(derp::http::admission_allows("{}", &why));
  CHECK_FALSE(derp::http::admission_allows("{\"Allow\":\"true\"}", &why));
  CHECK_FALSE(derp::http::admission_allows("true", &why));
  CHECK_FALSE(derp::http::admission_allows("", &why));
  CHECK_FALSE(derp::http::admission_allows("{\"Allow\":tru", &why));
}

TEST_CASE("http response reader: lengths, chunks, close-delimited bodies, and the body limit", "[http]") {
  using derp::http::ResponseReader;
  auto read = [](const std::string& text, std::size_t piece, std::size_t max_body = 4096) {
    auto r = std::make_unique<ResponseReader>(8192, max_body);
    for (std::size_t i = 0; i < text.size() && r->state() == ResponseReader::State::NeedMore; i += piece) {
      const std::string p = text.substr(i, piece);
      r->feed(derp::Bytes(reinterpret_cast<const std::uint8_t*>(p.data()), p.size()));
    }
    return r;
  };
  for (std::size_t piece : {1u, 3u, 1000u}) {
    auto r = read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", piece);
    CHECK(r->state() == ResponseReader::State::Done);
    CHECK(r->status() == 200);
    CHECK(r->body() == "hello");
    r = read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n", piece);
    CHECK(r->state() == ResponseReader::State::Done);
    CHECK(r->body() == "hello world");
    r = read("HTTP/1.1 403 Forbidden\r\n\r\nno", piece);
    CHECK(r->state() == ResponseReader::State::NeedMore);
    CHECK(r->finish_eof() == ResponseReader::State::Done);
    CHECK(r->status() == 403);
    CHECK(r->body() == "no");
  }
  auto r = read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 100, 4);
  CHECK(r->state() == ResponseReader::State::Done);
  CHECK(r->truncated());
  CHECK(r->body() == "0123");
  r = read("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 100);
  CHECK(r->state() == ResponseReader::State::Error);
  r = read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100);
  CHECK(r->state() == ResponseReader::State::Error);
  r = read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01", 100);
  CHECK(r->finish_eof() == ResponseReader::State::Error);
}

TEST_CASE("admission: allowed keys get in, refused ones are closed and logged", "[uv][admission]") {
  std::string deny_key;
  Admitted t;
  AdmissionStub stub(t.loop.get(), [&](const std::string& key) { return key == deny_key ? "deny" : "allow"; });
  derp::uv::UvAdmissionOptions o;
  o.url = stub.url();
  REQUIRE(t.start(o));
  Recorder ra, rb;
  auto a = t.client(&ra);
  auto b_opts = client_options(url_for(t.server->tcp_addresses().at(0)));
  deny_key = derp::crypto::format_public(derp::crypto::NodePublic());  // replaced below
  std::unique_ptr<UvClient> b;
  {
    derp::crypto::NodePublic pub;
    derp::crypto::public_of(b_opts.connection.private_key, &pub);
    deny_key = derp::crypto::format_public(pub);
    b_opts.reconnect = false;
    std::string detail;
    REQUIRE(UvClient::create(t.loop.get(), std::move(b_opts), &rb, &b, &detail) == DERP_OK);
    b->start();
  }
  REQUIRE(t.loop.run_until([&] { return ra.server_infos == 1 && t.denied() == 1; }));
  CHECK(rb.server_infos == 0);
  CHECK(t.logged("refusing client " + deny_key + " from 127.0.0.1: admission controller: not allowed"));
  CHECK(t.admission->counters().allowed == 1);
  CHECK(t.admission->counters().refused == 1);
  // The request: a POST to the URL's path with derper's JSON body.
  REQUIRE(stub.requests.size() == 2);
  bool saw_b = false;
  for (const auto& r : stub.requests) {
    CHECK(r.rfind("POST /admit HTTP/1.1\r\n", 0) == 0);
    if (r.find("{\"NodePublic\":\"" + deny_key + "\",\"Source\":\"127.0.0.1\"}") != std::string::npos) saw_b = true;
  }
  CHECK(saw_b);
  CHECK(t.server->core().metrics_text().find("derp_admission_checks{result=\"refused\"} 1") != std::string::npos);
  t.finish(&stub, {&a, &b});
}

TEST_CASE("admission: an unreachable URL admits with fail-open and refuses without", "[uv][admission]") {
  for (bool fail_open : {true, false}) {
    Admitted t;
    derp::uv::UvAdmissionOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(unused_port(t.loop)) + "/";
    o.fail_open = fail_open;
    REQUIRE(t.start(o));
    Recorder ra;
    auto a = t.client(&ra);
    REQUIRE(t.loop.run_until([&] { return ra.server_infos == 1 || t.denied() == 1; }));
    CHECK(ra.server_infos == (fail_open ? 1 : 0));
    CHECK(t.admission->counters().unreachable_open == (fail_open ? 1u : 0u));
    CHECK(t.admission->counters().unreachable_closed == (fail_open ? 0u : 1u));
    CHECK(t.logged(fail_open ? "admission controller unreachable" : "refusing client"));
    t.finish(nullptr, {&a});
  }
}

TEST_CASE("admission: a slow answer holds only its own client, what it sent early arrives once admitted",
          "[uv][admission]") {
  Admitted t;
  std::string slow_key;
  AdmissionStub stub(t.loop.get(), [&](const std::string& key) { return key == slow_key ? "hold" : "allow"; });
  derp::uv::UvAdmissionOptions o;
  o.url = stub.url();
  REQUIRE(t.start(o));
  Recorder rs, rf;
  auto s_opts = client_options(url_for(t.server->tcp_addresses().at(0)));
  s_opts.reconnect = false;
  derp::crypto::NodePublic s_pub;
  derp::crypto::public_of(s_opts.connection.private_key, &s_pub);
  slow_key = derp::crypto::format_public(s_pub);
  std::unique_ptr<UvClient> s;
  std::string detail;
  REQUIRE(UvClient::create(t.loop.get(), std::move(s_opts), &rs, &s, &detail) == DERP_OK);
  s->start();
  REQUIRE(t.loop.run_until([&] { return stub.held() == 1; }));
  // The fast client is admitted while the slow one waits.
  auto f = t.client(&rf);
  REQUIRE(t.loop.run_until([&] { return rf.server_infos == 1; }));
  CHECK(rs.server_infos == 0);
  CHECK(t.admission->in_flight() == 1);
  // The slow client already speaks (Go's client does not wait for ServerInfo): held, then delivered in order.
  REQUIRE(s->connected());
  const auto p = payload(100, 9);
  CHECK(s->send_packet(f->public_key(), p) == DERP_OK);
  t.loop.run_for(50);
  CHECK(rf.packets.empty());
  stub.release("allow");
  REQUIRE(t.loop.run_until([&] { return rs.server_infos == 1 && rf.packets.size() == 1; }));
  CHECK(rf.packets[0].source == s->public_key());
  CHECK(rf.packets[0].payload == p);
  t.finish(&stub, {&s, &f});
}

TEST_CASE("admission: a non-200 status, a bad answer, and no answer in time", "[uv][admission]") {
  struct Case {
    const char* answer;
    bool fail_open;
    bool admitted;
    const char* log;
  };
  const Case cases[] = {
      {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", true, false, "status 500"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", true, false, "not JSON"},
      {"hold", true, true, "unreachable (timed out)"},
      {"hold", false, false, "unreachable (timed out)"},
  };
  for (const Case& c : cases) {
    INFO(c.answer << " fail_open=" << c.fail_open);
    Admitted t;
    AdmissionStub stub(t.loop.get(), [&](const std::string&) { return std::string(c.answer); });
    derp::uv::UvAdmissionOptions o;
    o.url = stub.url();
    o.fail_open = c.fail_open;
    o.timeout = 200 * derp::kMillisecond;  // the per-check bound (derper: 5 s)
    REQUIRE(t.start(o));
    Recorder ra;
    auto a = t.client(&ra);
    REQUIRE(t.loop.run_until([&] { return ra.server_infos == 1 || t.denied() == 1; }));
    CHECK(ra.server_infos == (c.admitted ? 1 : 0));
    CHECK(t.logged(c.log));
    t.finish(&stub, {&a});
  }
}

TEST_CASE("admission: https URLs and non-URLs are refused up front", "[uv][admission]") {
  TestLoop loop;
  auto server = start_server(loop.get());
  REQUIRE(server);
  for (const char* url : {"https://admit.example.com/", "ftp://x/", "not a url"}) {
    derp::uv::UvAdmissionOptions o;
    o.url = url;
    std::unique_ptr<UvAdmission> a;
    std::string detail;
    CHECK(UvAdmission::create(loop.get(), server->core(), std::move(o), &a, &detail) == DERP_ERR_URL);
  }
  CHECK(stop_server(loop, *server));
  CHECK(loop.finish() == 0);
}
