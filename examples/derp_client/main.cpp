// derp-client: a scriptable DERP client on the libuv driver (lib/uv UvClient over the sans-IO lib/client core).
// Packets and command results go to stdout, one line each; connection news and errors go to stderr, so scripts
// can read stdout and tests can wait for "connected" on stderr. See usage_text() for the commands and exit codes.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <uv.h>

#include "../derper/key_setup.hpp"
#include "args.hpp"
#include "derpmap/derpmap.hpp"
#include "common/hex.hpp"
#include "crypto/key_text.hpp"
#include "derp/common.h"
#include "tls/cert_pin.hpp"
#include "uv/uv_client.hpp"

namespace {

using derp::Bytes;
using derp::Nanos;
using derp::crypto::NodePublic;
using derp::uv::UvClientState;
using derp::uv::UvClientStatus;
using derp_client::Args;
using derp_client::Command;

constexpr int kExitOk = 0;
constexpr int kExitTimeout = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConnect = 3;
constexpr std::uint64_t kServerInfoWaitMs = 2000;

std::string payload_text(Bytes payload) {
  bool printable = !payload.empty();
  for (std::uint8_t b : payload) printable = printable && b >= 0x20 && b <= 0x7e;
  if (printable) return std::string(reinterpret_cast<const char*>(payload.data()), payload.size());
  std::string hex(2 * payload.size(), '\0');
  derp::write_hex(payload.data(), payload.size(), hex.data());
  return "hex:" + hex;
}

// "hex:..." → those bytes; anything else → its characters.
bool payload_bytes(const std::string& text, std::vector<std::uint8_t>* out) {
  if (text.rfind("hex:", 0) != 0) {
    out->assign(text.begin(), text.end());
    return true;
  }
  const std::string_view hex = std::string_view(text).substr(4);
  if (hex.size() % 2 != 0) return false;
  out->resize(hex.size() / 2);
  return derp::read_hex(hex, out->data(), out->size());
}

double seconds(Nanos ns) { return static_cast<double>(ns) / 1e9; }

class Runner : public derp::uv::UvClientEvents {
 public:
  Runner(uv_loop_t* loop, const Args& args) : loop_(loop), args_(args) {}

  int run(derp::uv::UvClientOptions options, const NodePublic* peer, std::vector<std::uint8_t> payload) {
    if (peer) peer_ = *peer;
    payload_ = std::move(payload);
    std::string detail;
    const int rc = derp::uv::UvClient::create(loop_, std::move(options), this, &client_, &detail);
    if (rc != DERP_OK) {
      std::fprintf(stderr, "derp-client: %s%s%s\n", derp_strerror(rc), detail.empty() ? "" : ": ", detail.c_str());
      return rc == DERP_ERR_TLS_CONFIG ? kExitConnect : kExitUsage;
    }
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    uv_timer_init(loop_, &info_timer_);
    info_timer_.data = this;
    uv_timer_init(loop_, &send_timer_);
    send_timer_.data = this;
    uv_signal_init(loop_, &sigint_);
    sigint_.data = this;
    uv_signal_start(&sigint_, [](uv_signal_t* s, int) { static_cast<Runner*>(s->data)->finish(kExitOk); }, SIGINT);
    uv_unref(reinterpret_cast<uv_handle_t*>(&sigint_));  // SIGINT alone does not keep the loop alive
    if (const double limit = command_timeout(); limit >= 0) {
      uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<Runner*>(t->data)->on_timeout(); },
                     static_cast<std::uint64_t>(limit * 1000), 0);
    }
    client_->start();
    uv_run(loop_, UV_RUN_DEFAULT);
    client_.reset();
    uv_run(loop_, UV_RUN_DEFAULT);  // the client's handles finish closing
    return exit_code_;
  }

  // ---- UvClientEvents ----
  void on_state(const UvClientStatus& status) override {
    switch (status.state) {
      case UvClientState::Connecting:
        if (args_.verbose) std::fprintf(stderr, "derp-client: connecting\n");
        break;
      case UvClientState::Connected:
        // Our handshake is out, but the server may not have registered us yet: "connected" (what scripts wait
        // for before asking a peer to send to us) waits for its ServerInfo, which it sends once it has. A server
        // that never sends one gets the benefit of the doubt after kServerInfoWait.
        node_ = status.node;
        registered_ = false;
        uv_timer_start(&info_timer_, [](uv_timer_t* t) { static_cast<Runner*>(t->data)->on_registered(); },
                       kServerInfoWaitMs, 0);
        break;
      case UvClientState::Disconnected: {
        uv_timer_stop(&info_timer_);
        std::string text = std::string(derp_strerror(status.error)) +
                           (status.detail.empty() ? "" : ": " + status.detail);
        const bool persistent = args_.command == Command::Recv || args_.command == Command::Echo ||
                                args_.command == Command::Watch;
        if (connects_ == 0 || !persistent || status.retry_in == derp::kNever) {
          std::fprintf(stderr, "derp-client: %s\n", text.c_str());
          finish(kExitConnect);
          return;
        }
        std::fprintf(stderr, "derp-client: disconnected (%s); retrying in %.1f s\n", text.c_str(),
                     seconds(status.retry_in));
        if (args_.command == Command::Watch) line("disconnected " + text);
        break;
      }
      case UvClientState::Idle:
      case UvClientState::Stopped:
        break;
    }
  }

  void on_server_info(const derp::crypto::ServerInfo&) override { on_registered(); }

  void on_packet_via(const NodePublic& source, Bytes payload, derp::path::Via via) override {
    const std::string src = derp::crypto::format_public(source);
    switch (args_.command) {
      case Command::Send:
        if (args_.wait_reply && source == peer_) {
          const char* suffix = !args_.direct ? "" : via == derp::path::Via::kDirect ? " via direct" : " via derp";
          line(src + " " + payload_text(payload) + suffix);
          if (++replies_ >= send_total()) finish(kExitOk);
        }
        break;
      case Command::Recv:
        line(src + " " + payload_text(payload));
        count_one();
        break;
      case Command::Echo:
        if (first_packet_at_ == 0) first_packet_at_ = uv_hrtime();
        if (const int rc = client_->send_packet(source, payload); rc != DERP_OK) {
          std::fprintf(stderr, "derp-client: echo to %s dropped: %s\n", src.c_str(), derp_strerror(rc));
        }
        count_one();
        break;
      case Command::Watch:
        line("packet " + src + " " + payload_text(payload));
        break;
      default:
        break;
    }
  }

  // --direct: one line per change, as the issue fixes it: "path nodekey:<hex> direct <ip:port> rtt <ms>" or
  // "path nodekey:<hex> derp"; the time since this program's first packet to or from that peer goes to stderr.
  void on_path_changed(const NodePublic& peer, derp::path::Via via, const derp_addr& addr, Nanos rtt) override {
    const std::string key = derp::crypto::format_public(peer);
    if (via == derp::path::Via::kDirect) {
      char where[DERP_ADDR_TEXT_MAX] = "";
      derp_addr_format(&addr, where, sizeof where);
      char text[160];
      std::snprintf(text, sizeof text, "path %s direct %s rtt %.3f", key.c_str(), where, static_cast<double>(rtt) / 1e6);
      line(text);
      if (first_packet_at_ != 0) {
        std::fprintf(stderr, "derp-client: direct path to %s %.1f ms after the first packet\n", key.c_str(),
                     static_cast<double>(uv_hrtime() - first_packet_at_) / 1e6);
      }
    } else {
      line("path " + key + " derp");
    }
  }

  void on_peer_gone(const NodePublic& peer, std::uint8_t reason) override {
    if (args_.command != Command::Watch) return;
    line("peer-gone " + derp::crypto::format_public(peer) +
         (reason == DERP_PEER_GONE_NOT_HERE ? " not-here" : " disconnected"));
  }

  void on_peer_present(const NodePublic& peer, const derp_addr& endpoint, std::uint8_t flags) override {
    if (args_.command != Command::Watch) return;
    char addr[64] = "unknown";
    if (endpoint.family != DERP_AF_NONE) derp_addr_format(&endpoint, addr, sizeof addr);
    char text[32];
    std::snprintf(text, sizeof text, " flags=0x%02x", flags);
    line("peer-present " + derp::crypto::format_public(peer) + " " + addr + text);
  }

  void on_health(std::string_view problem) override {
    if (args_.command == Command::Watch) line(problem.empty() ? "health ok" : "health " + std::string(problem));
  }

  void on_restarting(Nanos reconnect_in, Nanos try_for) override {
    if (args_.command != Command::Watch) return;
    char text[96];
    std::snprintf(text, sizeof text, "restarting reconnect-in=%.3fs try-for=%.3fs", seconds(reconnect_in),
                  seconds(try_for));
    line(text);
  }

 private:
  // The server has registered this connection (its ServerInfo came), or kServerInfoWaitMs passed without one.
  void on_registered() {
    uv_timer_stop(&info_timer_);
    if (registered_ || finished_) return;
    registered_ = true;
    ++connects_;
    std::fprintf(stderr, "derp-client: connected to %s (server %s) as %s\n", node_.c_str(),
                 derp::crypto::format_public(client_->server_key()).c_str(),
                 derp::crypto::format_public(client_->public_key()).c_str());
    if (args_.command == Command::Watch && connects_ > 1) line("reconnected " + node_);
    if (connects_ == 1) begin_command();
  }

  static void line(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }

  double command_timeout() const {
    if (args_.timeout >= 0) return args_.timeout;
    if (args_.command == Command::Send && args_.wait_reply) return 10;
    return -1;  // no limit beyond the connect timeout
  }

  void begin_command() {
    switch (args_.command) {
      case Command::Send:
        send_next();
        break;
      case Command::Ping:
        ping_next();
        break;
      default:
        break;
    }
  }

  long send_total() const { return args_.count > 0 ? args_.count : 1; }

  // send: packet number sent_ + 1 of send_total(), the next one interval_ms later.
  void send_next() {
    if (finished_) return;
    if (first_packet_at_ == 0) first_packet_at_ = uv_hrtime();
    const int rc = client_->send_packet(peer_, Bytes(payload_.data(), payload_.size()));
    if (rc != DERP_OK) {
      std::fprintf(stderr, "derp-client: send failed: %s\n", derp_strerror(rc));
      finish(rc == DERP_ERR_FRAME_TOO_LARGE ? kExitUsage : kExitConnect);
      return;
    }
    if (++sent_ < send_total()) {
      uv_timer_start(&send_timer_, [](uv_timer_t* t) { static_cast<Runner*>(t->data)->send_next(); },
                     static_cast<std::uint64_t>(args_.interval_ms), 0);
      return;
    }
    // A pong comes back after the server has read everything before the ping, our packet included: only
    // then is it safe to exit without --wait-reply.
    if (!args_.wait_reply) {
      client_->ping([this](int result, Nanos) { finish(result == DERP_OK ? kExitOk : kExitConnect); });
    }
  }

  void ping_next() {
    const long total = args_.count > 0 ? args_.count : 3;
    const int rc = client_->ping([this, total](int result, Nanos rtt) {
      ++pings_done_;
      if (result != DERP_OK) {
        std::fprintf(stderr, "derp-client: ping %ld: %s\n", pings_done_, derp_strerror(result));
        finish(result == DERP_ERR_TIMEOUT ? kExitTimeout : kExitConnect);
        return;
      }
      char text[64];
      std::snprintf(text, sizeof text, "ping %ld: rtt %.3f ms", pings_done_, static_cast<double>(rtt) / 1e6);
      line(text);
      if (pings_done_ >= total) {
        finish(kExitOk);
        return;
      }
      uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<Runner*>(t->data)->ping_next(); }, 1000, 0);
    });
    if (rc != DERP_OK) {
      std::fprintf(stderr, "derp-client: ping: %s\n", derp_strerror(rc));
      finish(kExitConnect);
    }
  }

  void count_one() {
    ++received_;
    if (args_.count <= 0 || received_ < args_.count) return;
    if (args_.command != Command::Echo) {
      finish(kExitOk);
      return;
    }
    // The last echo must reach the server before we hang up: wait for a pong, which follows it on the wire.
    if (client_->ping([this](int result, Nanos) { finish(result == DERP_OK ? kExitOk : kExitConnect); }) !=
        DERP_OK) {
      finish(kExitConnect);
    }
  }

  void on_timeout() {
    switch (args_.command) {
      case Command::Send:
        std::fprintf(stderr, "derp-client: no reply within %.1f s\n", command_timeout());
        finish(kExitTimeout);
        break;
      case Command::Recv:
      case Command::Echo:
        // Fewer packets than asked for is a failure; no --count means "until the timeout".
        finish(args_.count > 0 && received_ < args_.count ? kExitTimeout : kExitOk);
        break;
      default:
        finish(kExitOk);
        break;
    }
  }

  void finish(int code) {
    if (finished_) return;
    finished_ = true;
    exit_code_ = code;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&info_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&send_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
    client_->stop();
  }

  uv_loop_t* loop_;
  const Args& args_;
  std::unique_ptr<derp::uv::UvClient> client_;
  uv_timer_t timer_{};
  uv_timer_t info_timer_{};
  uv_timer_t send_timer_{};
  long sent_ = 0;
  long replies_ = 0;
  Nanos first_packet_at_ = 0;  // --direct: for the time the upgrade took
  uv_signal_t sigint_{};
  std::string node_;
  bool registered_ = false;
  NodePublic peer_{};
  std::vector<std::uint8_t> payload_;
  long connects_ = 0;
  long received_ = 0;
  long pings_done_ = 0;
  bool finished_ = false;
  int exit_code_ = kExitOk;
};

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

int usage_error(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "derp-client: %s\n", error.c_str());
  std::fputs(derp_client::usage_text(), error.empty() ? stdout : stderr);
  return error.empty() ? kExitOk : kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Args args;
  std::string error;
  if (!derp_client::parse_args(argc, argv, &args, &error)) return usage_error(error);
  if (args.version) {
    std::printf("%s (libderp derp-client)\n", derp_version_string());
    return kExitOk;
  }
  // A malformed pin is a usage error, caught before any key file is touched or any socket opened.
  if (derp::tls::Sha256Digest pin; derp::tls::is_cert_pin(args.cert_name) &&
                                   derp::tls::parse_cert_pin(args.cert_name, &pin) != DERP_OK) {
    std::fprintf(stderr, "derp-client: --cert-name \"%s\" is not sha256-raw: followed by 64 hex digits\n",
                 args.cert_name.c_str());
    return kExitUsage;
  }

  derp::crypto::NodePrivate key;
  if (args.key_file.empty()) {
    if (derp::crypto::generate_private(&key) != DERP_OK) {
      std::fprintf(stderr, "derp-client: cannot generate a key\n");
      return kExitUsage;
    }
  } else {
    bool created = false;
    if (!derper::load_or_create_key(args.key_file, &key, &created, &error)) {
      std::fprintf(stderr, "derp-client: key file %s: %s\n", args.key_file.c_str(), error.c_str());
      return kExitUsage;
    }
  }
  if (args.command == Command::PubKey) {
    derp::crypto::NodePublic pub;
    derp::crypto::public_of(key, &pub);
    std::printf("%s\n", derp::crypto::format_public(pub).c_str());
    return kExitOk;
  }

  NodePublic peer{};
  std::vector<std::uint8_t> payload;
  if (args.command == Command::Send) {
    if (const int rc = derp::crypto::parse_public(args.peer, &peer); rc != DERP_OK) {
      std::fprintf(stderr, "derp-client: bad NODEKEY \"%s\": %s\n", args.peer.c_str(), derp_strerror(rc));
      return kExitUsage;
    }
    if (!payload_bytes(args.text, &payload)) {
      std::fprintf(stderr, "derp-client: TEXT \"hex:...\" must hold an even number of hex digits\n");
      return kExitUsage;
    }
  }

  derp::uv::UvClientOptions options;
  options.connection.private_key = key;
  options.connection.fast_start = args.fast_start;
  options.connection.websocket = args.websocket;
  options.connect_timeout = static_cast<Nanos>(args.connect_timeout * 1e9);
  options.insecure_skip_verify = args.insecure;
  options.extra_ca_path = args.ca_file;
  options.cert_name = args.cert_name;
  options.plain_http = args.plain_http;
  if (args.direct) {
    options.direct.enabled = true;
    if (!args.udp_bind.empty()) options.direct.udp_bind = args.udp_bind;
    options.direct.udp_bind6 = args.udp_bind6;
    options.direct.stun_server = args.stun;
    options.direct.stun_server6 = args.stun6;
    options.direct.path.seal_data = !args.unsealed;
  }
  // Commands that end by themselves give up on the first failure; recv/echo/watch redial after a loss (but still
  // fail on the very first connect, see Runner::on_state).
  options.reconnect = args.command == Command::Recv || args.command == Command::Echo ||
                      args.command == Command::Watch;
  if (args.verbose) options.log = [](std::string_view l) { std::fprintf(stderr, "derp-client: %.*s\n",
                                                                         static_cast<int>(l.size()), l.data()); };
  if (!args.server_url.empty()) {
    options.url = args.server_url;
  } else {
    std::string json;
    if (!read_file(args.derpmap_path, &json)) {
      std::fprintf(stderr, "derp-client: cannot read %s\n", args.derpmap_path.c_str());
      return kExitUsage;
    }
    derp::derpmap::DerpMap map;
    if (const int rc = derp::derpmap::parse_derp_map(json, &map); rc != DERP_OK) {
      std::fprintf(stderr, "derp-client: %s: %s\n", args.derpmap_path.c_str(), derp_strerror(rc));
      return kExitUsage;
    }
    const auto it = map.regions.find(args.region);
    if (it == map.regions.end()) {
      std::fprintf(stderr, "derp-client: region %d is not in %s\n", args.region, args.derpmap_path.c_str());
      return kExitUsage;
    }
    options.region = it->second;
  }

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    std::fprintf(stderr, "derp-client: cannot start the event loop\n");
    return kExitConnect;
  }
  int code;
  {
    Runner runner(&loop, args);
    code = runner.run(std::move(options), args.command == Command::Send ? &peer : nullptr, std::move(payload));
  }
  uv_loop_close(&loop);
  return code;
}
