// derper's -verify-client-url on libuv: for each new client (after the ClientInfo box opened, mesh peers
// excepted) POST {"NodePublic":"nodekey:…","Source":"<ip>"} to the URL and admit it only on HTTP 200 with
// {"Allow":true} (derp/derpserver verifyClient). The connection waits for the answer (ServerOptions::admit_async);
// nothing else does. Bounded: each check has `timeout` (derper: 5 s), at most max_in_flight run at once and
// max_waiting wait for a turn; past that a client is judged as if the URL were unreachable. Unreachable (DNS,
// connect, no answer in time) admits when fail_open (derper's default) and refuses otherwise; a non-200 status or
// an answer that is not {"Allow":true} refuses. One log line per refusal.
//
// Plain http:// URLs only for now; https:// is refused at create().
// Loop thread only; destroy before the core. Connections still waiting then are refused.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include <uv.h>

#include "server/server.hpp"
#include "uv/uv_http_post.hpp"

namespace derp::uv {

struct UvAdmissionOptions {
  std::string url;  // http://host[:port][/path]
  bool fail_open = true;
  Nanos timeout = 5 * kSecond;
  std::size_t max_in_flight = 32;
  std::size_t max_waiting = 1024;
  std::function<void(server::LogLevel, std::string_view)> log;
};

struct AdmissionCounters {
  std::uint64_t allowed = 0;
  std::uint64_t refused = 0;          // by the controller's answer (or a bad one)
  std::uint64_t unreachable_open = 0; // admitted because the URL could not be reached
  std::uint64_t unreachable_closed = 0;
  std::uint64_t over_capacity = 0;    // judged unreachable at once: too many checks in flight and waiting
};

class UvAdmission {
 public:
  // DERP_OK; DERP_ERR_URL (not an http:// URL) with *detail.
  static int create(uv_loop_t* loop, server::Server& core, UvAdmissionOptions options,
                    std::unique_ptr<UvAdmission>* out, std::string* detail);
  ~UvAdmission();
  UvAdmission(const UvAdmission&) = delete;
  UvAdmission& operator=(const UvAdmission&) = delete;

  const AdmissionCounters& counters() const { return counters_; }
  std::size_t in_flight() const { return in_flight_.size(); }
  std::size_t waiting() const { return waiting_.size(); }
  // derp_admission_checks{result="allowed|refused|unreachable_open|unreachable_closed|over_capacity"}.
  void append_metrics(std::string& out) const;

 private:
  struct Check {
    std::uint64_t connection = 0;
    std::string key_text;
    std::string source_ip;
    std::unique_ptr<UvHttpPost> post;
  };
  UvAdmission(uv_loop_t* loop, server::Server& core, UvAdmissionOptions options);
  server::ServerOptions::Admission on_client(std::uint64_t connection, const crypto::NodePublic& key,
                                             const derp_addr& remote);
  void start_next();
  void run(std::unique_ptr<Check> check);
  void on_answer(Check* check, HttpPostResult result);
  // The verdict when the controller cannot be asked or reached.
  bool unreachable_verdict(const Check& check, const std::string& why);
  void log(server::LogLevel level, const std::string& text) const;

  uv_loop_t* loop_;
  server::Server& core_;
  UvAdmissionOptions options_;
  std::string host_;
  std::uint16_t port_ = 80;
  std::string host_header_;
  std::string path_;
  std::list<std::unique_ptr<Check>> in_flight_;
  std::deque<std::unique_ptr<Check>> waiting_;
  AdmissionCounters counters_;
};

}  // namespace derp::uv
