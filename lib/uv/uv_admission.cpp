// -verify-client-url (uv_admission.hpp).
#include "uv/uv_admission.hpp"

#include <utility>

#include "client/url.hpp"
#include "common/address.hpp"
#include "crypto/key_text.hpp"
#include "http/admission.hpp"
#include "uv/clock.hpp"
#include "uv/uv_connection.hpp"

namespace derp::uv {

using server::LogLevel;
using Admission = server::ServerOptions::Admission;

namespace {
// The client's IP as Go's netip.Addr marshals it: "1.2.3.4", "2001:db8::1", "" when unknown.
std::string ip_text(const derp_addr& remote) {
  const std::string text = format_addr(unmap_v4(remote));
  if (text.empty()) return "";
  std::string ip = text.substr(0, text.rfind(':'));
  if (!ip.empty() && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
  return ip;
}
}  // namespace

UvAdmission::UvAdmission(uv_loop_t* loop, server::Server& core, UvAdmissionOptions options)
    : loop_(loop), core_(core), options_(std::move(options)) {}

int UvAdmission::create(uv_loop_t* loop, server::Server& core, UvAdmissionOptions options,
                        std::unique_ptr<UvAdmission>* out, std::string* detail) {
  client::DerpUrl url;
  if (options.url.rfind("http://", 0) != 0 || client::parse_derp_url(options.url, &url) != DERP_OK) {
    *detail = options.url.rfind("https://", 0) == 0
                  ? "-verify-client-url: https:// admission URLs are not supported yet (use http://, e.g. on a "
                    "private network or loopback)"
                  : "-verify-client-url: \"" + options.url + "\" is not an http:// URL";
    return DERP_ERR_URL;
  }
  std::unique_ptr<UvAdmission> a(new UvAdmission(loop, core, std::move(options)));
  a->host_ = url.host;
  a->port_ = url.port;
  a->host_header_ = url.host_header;
  // parse_derp_url defaults a missing path to /derp; a URL here without one means the root.
  const std::string_view rest = std::string_view(a->options_.url).substr(7);
  a->path_ = rest.find('/') == std::string_view::npos ? "/" : url.path;
  UvAdmission* self = a.get();
  core.set_admit_async([self](std::uint64_t id, const crypto::NodePublic& key, const derp_addr& remote) {
    return self->on_client(id, key, remote);
  });
  core.set_extra_metrics([self, host = core.options().extra_metrics](std::string& text) {
    if (host) host(text);
    self->append_metrics(text);
  });
  *out = std::move(a);
  return DERP_OK;
}

UvAdmission::~UvAdmission() {
  core_.set_admit_async(nullptr);
  core_.set_extra_metrics(nullptr);
  const Nanos now = monotonic_now();
  std::vector<std::uint64_t> left;
  for (const auto& c : in_flight_) left.push_back(c->connection);
  for (const auto& c : waiting_) left.push_back(c->connection);
  in_flight_.clear();  // cancels the requests
  waiting_.clear();
  for (std::uint64_t id : left) core_.finish_admission(id, false, now);
  serve_ready(core_, now);
}

void UvAdmission::log(LogLevel level, const std::string& text) const {
  if (options_.log) options_.log(level, text);
}

Admission UvAdmission::on_client(std::uint64_t connection, const crypto::NodePublic& key, const derp_addr& remote) {
  auto check = std::make_unique<Check>();
  check->connection = connection;
  check->key_text = crypto::format_public(key);
  check->source_ip = ip_text(remote);
  if (in_flight_.size() < options_.max_in_flight) {
    run(std::move(check));
    return Admission::Pending;
  }
  if (waiting_.size() < options_.max_waiting) {
    waiting_.push_back(std::move(check));
    return Admission::Pending;
  }
  counters_.over_capacity++;
  return unreachable_verdict(*check, "too many admission checks at once") ? Admission::Allow : Admission::Deny;
}

void UvAdmission::run(std::unique_ptr<Check> check) {
  const std::string body = http::admission_request_body(check->key_text, check->source_ip);
  check->post = std::make_unique<UvHttpPost>(loop_);
  Check* raw = check.get();
  in_flight_.push_back(std::move(check));
  raw->post->start(host_, port_, http::admission_request(host_header_, path_, body), options_.timeout,
                   [this, raw](HttpPostResult r) { on_answer(raw, std::move(r)); });
}

bool UvAdmission::unreachable_verdict(const Check& check, const std::string& why) {
  if (options_.fail_open) {
    counters_.unreachable_open++;
    log(LogLevel::Info, "admission controller unreachable (" + why + "); allowing client " + check.key_text);
    return true;
  }
  counters_.unreachable_closed++;
  log(LogLevel::Info, "refusing client " + check.key_text + " from " + check.source_ip +
                          ": admission controller unreachable (" + why + ")");
  return false;
}

void UvAdmission::on_answer(Check* check, HttpPostResult result) {
  bool allowed = false;
  if (!result.reached) {
    allowed = unreachable_verdict(*check, result.error);
  } else {
    std::string why;
    if (result.status != 200) {
      why = "status " + std::to_string(result.status);
    } else if (!result.complete && result.body.empty()) {
      why = result.error;
    } else {
      allowed = http::admission_allows(result.body, &why);
    }
    if (allowed) {
      counters_.allowed++;
    } else {
      counters_.refused++;
      log(LogLevel::Info, "refusing client " + check->key_text + " from " + check->source_ip +
                              ": admission controller: " + why);
    }
  }
  const std::uint64_t id = check->connection;
  // Done with this check (UvHttpPost allows being destroyed from inside its callback).
  in_flight_.remove_if([check](const std::unique_ptr<Check>& c) { return c.get() == check; });
  const Nanos now = monotonic_now();
  core_.finish_admission(id, allowed, now);
  serve_ready(core_, now);
  start_next();
}

void UvAdmission::start_next() {
  while (in_flight_.size() < options_.max_in_flight && !waiting_.empty()) {
    std::unique_ptr<Check> next = std::move(waiting_.front());
    waiting_.pop_front();
    // A client that closed (or timed out) while waiting needs no check.
    if (!core_.awaiting_admission(next->connection)) continue;
    run(std::move(next));
  }
}

void UvAdmission::append_metrics(std::string& out) const {
  out += "# HELP derp_admission_checks new clients judged by -verify-client-url, by outcome\n"
         "# TYPE derp_admission_checks counter\n";
  out += "derp_admission_checks{result=\"allowed\"} " + std::to_string(counters_.allowed) + "\n";
  out += "derp_admission_checks{result=\"refused\"} " + std::to_string(counters_.refused) + "\n";
  out += "derp_admission_checks{result=\"unreachable_open\"} " + std::to_string(counters_.unreachable_open) + "\n";
  out += "derp_admission_checks{result=\"unreachable_closed\"} " + std::to_string(counters_.unreachable_closed) + "\n";
  out += "derp_admission_checks{result=\"over_capacity\"} " + std::to_string(counters_.over_capacity) + "\n";
  out += "# HELP derp_admission_in_flight admission checks running now\n# TYPE derp_admission_in_flight gauge\n";
  out += "derp_admission_in_flight " + std::to_string(in_flight_.size()) + "\n";
}

}  // namespace derp::uv
