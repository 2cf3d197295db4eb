// derper: a DERP relay and STUN server with Tailscale derper's flags (reference §1.7, §7), built on the libuv
// driver (lib/uv) and the sans-IO server core (lib/server).
#include <signal.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <uv.h>

#include "allow_list.hpp"
#include "cert_setup.hpp"
#include "crypto/key_text.hpp"
#include "derp/common.h"
#include "flags.hpp"
#include "key_setup.hpp"
#include "common/ip_literal.hpp"
#include "mesh_setup.hpp"
#include "uv/socket_address.hpp"
#include "uv/uv_admission.hpp"
#include "uv/uv_mesh.hpp"
#include "uv/uv_server.hpp"

namespace {

using derp::server::LogLevel;

// What clients are told on SIGINT/SIGTERM (Restarting frame): come back after a moment, keep trying for a while
// (a service manager usually restarts the server within seconds).
constexpr std::uint32_t kReconnectInMs = 2000;
constexpr std::uint32_t kTryForMs = 30000;

bool g_verbose = false;

// Go log's default form: "2006/01/02 15:04:05 message", on stderr.
void log_line(LogLevel level, std::string_view text) {
  if (level == LogLevel::Debug && !g_verbose) return;
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", &tm);
  std::fprintf(stderr, "%s %.*s\n", stamp, static_cast<int>(text.size()), text.data());
}

void log_text(const std::string& text) { log_line(LogLevel::Info, text); }

int fail(int status, const std::string& text) {
  std::fprintf(stderr, "derper: %s\n", text.c_str());
  return status;
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

bool is_mesh_key(const std::string& key) {
  if (key.size() != 64) return false;
  for (char c : key) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// derper's mesh key sources (reference §7): -dev takes TAILSCALE_DERPER_MESH_KEY; otherwise -mesh-psk-file, or the
// first of derper's default paths that exists.
bool load_mesh_key(const derper::Flags& flags, std::optional<std::string>* out, std::string* error) {
  if (flags.dev) {
    if (const char* env = std::getenv("TAILSCALE_DERPER_MESH_KEY"); env != nullptr && env[0] != '\0') {
      *out = trim(env);
      if (!is_mesh_key(**out)) {
        *error = "TAILSCALE_DERPER_MESH_KEY is not 64 hex digits";
        return false;
      }
    }
    return true;
  }
  std::string path = flags.mesh_psk_file;
  if (!flags.mesh_psk_file_set) {
    std::vector<std::string> candidates = {"/home/derp/keys/derp-mesh.key"};
    if (const char* home = std::getenv("HOME")) candidates.push_back(std::string(home) + "/keys/derp-mesh.key");
    for (const std::string& c : candidates) {
      if (std::ifstream(c).good()) {
        path = c;
        break;
      }
    }
  }
  if (path.empty()) return true;
  std::ifstream in(path);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) {
    *error = "cannot read the mesh key file " + path;
    return false;
  }
  *out = trim(text.str());
  if (!is_mesh_key(**out)) {
    *error = "mesh key file " + path + " does not hold 64 hex digits";
    return false;
  }
  log_text("mesh key loaded from " + path);
  return true;
}

bool home_page(const std::string& flag, derp::server::HomePage* out, std::string* error) {
  if (flag.empty()) return true;
  if (flag == "blank") {
    out->kind = derp::server::HomePage::Kind::Blank;
    return true;
  }
  if (flag.rfind("http://", 0) == 0 || flag.rfind("https://", 0) == 0) {
    out->kind = derp::server::HomePage::Kind::Redirect;
    out->redirect_url = flag;
    return true;
  }
  *error = "-home must be \"\", \"blank\" or an http(s):// URL";
  return false;
}

// Signals and the two servers, on the default loop.
struct Daemon {
  std::unique_ptr<derp::uv::UvServer> main;
  std::unique_ptr<derp::uv::UvMesh> mesh;      // -mesh-with links, fed into main's core
  std::unique_ptr<derp::uv::UvAdmission> admission;  // -verify-client-url
  std::unique_ptr<derp::uv::UvServer> http80;  // TLS mode's plain port, if any
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  int signals_seen = 0;

  void on_signal(int signum) {
    if (mesh) mesh->stop();
    if (++signals_seen > 1) {
      log_text("second signal: closing every connection now");
      main->close();
      if (http80) http80->close();
      return;
    }
    log_text(std::string("got ") + (signum == SIGINT ? "SIGINT" : "SIGTERM") +
             ": telling clients to reconnect elsewhere, then stopping");
    auto maybe_done = [this] {
      if (main->stopped() && (!http80 || http80->stopped())) {
        uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
      }
    };
    main->shutdown(kReconnectInMs, kTryForMs, maybe_done);
    if (http80) http80->close(maybe_done);
  }
};

}  // namespace

int main(int argc, char** argv) {
  derper::Flags flags;
  std::string error;
  if (!derper::parse_flags(argc, argv, &flags, &error)) {
    std::fprintf(stderr, "%s\nRun %s --help for the flags.\n", error.c_str(), argv[0]);
    return 2;
  }
  if (flags.help) {
    std::fputs(derper::usage_text(argv[0]).c_str(), stdout);
    return 0;
  }
  if (flags.version) {
    std::printf("%s (libderp derper)\n", derp_version_string());
    return 0;
  }
  g_verbose = flags.verbose;
  // derper -dev forces :3340; we keep an explicit -a (say, loopback only) rather than ignore it silently.
  if (flags.dev && !flags.addr_set) flags.addr = ":3340";

  derp::uv::ListenAddress listen;
  if (derp::uv::parse_listen_address(flags.addr, &listen) != DERP_OK) {
    return fail(2, "invalid -a \"" + flags.addr + "\": want ip:port, [ip6]:port or :port");
  }
  // The other listeners go on the same IP as -a (reference §1.7).
  const std::string host = flags.addr.substr(0, flags.addr.rfind(':'));
  const bool use_tls = derper::wants_tls(listen.addr.port, flags.certmode);
  // Settle everything the flags alone decide before any file is read or created.
  if (use_tls && !derper::check_certmode(flags.certmode, &error)) return fail(2, error);  // a flag we refuse
  const bool verify = flags.verify_clients || !flags.allow_list.empty();
  if (verify && flags.allow_list.empty()) {
    return fail(2, "-verify-clients needs -allow-list FILE here (derper asks tailscaled, which this server cannot)");
  }
  derp::server::HomePage home;
  if (!home_page(flags.home, &home, &error)) return fail(2, error);
  if (!flags.verify_client_url.empty() && flags.verify_client_url.rfind("http://", 0) != 0) {
    return fail(2, flags.verify_client_url.rfind("https://", 0) == 0
                       ? "-verify-client-url: https:// admission URLs are not supported yet (use http://)"
                       : "-verify-client-url: \"" + flags.verify_client_url + "\" is not an http:// URL");
  }
  std::vector<derp::uv::MeshTarget> mesh_peers;
  if (!derper::parse_mesh_with(flags.mesh_with, &mesh_peers, &error)) return fail(2, error);

  // Identity: -c when given (in -dev mode too: derper ignores it there, which hides a typo'd or unreadable key
  // file), else a throw-away key in -dev mode, else derper's default path for root.
  derp::crypto::NodePrivate key;
  if (flags.dev && flags.config_path.empty()) {
    if (derp::crypto::generate_private(&key) != DERP_OK) return fail(1, "cannot generate a key");
  } else {
    const bool default_path = flags.config_path.empty();
    const std::string path = default_path ? derper::default_key_path() : flags.config_path;
    if (path.empty()) {
      return fail(1, "-c <key file> is required (derper defaults to /var/lib/derper/derper.key only as root)");
    }
    // derper creates any missing directories of the key path (os.MkdirAll in cmd/derper). We do that only for the
    // default path, and say so; for an explicit -c a missing directory is more likely a typo than a wish.
    bool made_directory = false;
    if (default_path && !derper::ensure_key_directory(path, &made_directory, &error)) return fail(1, error);
    if (made_directory) log_text("created the directory of the key file " + path);
    bool created = false;
    if (!derper::load_or_create_key(path, &key, &created, &error)) return fail(1, error);
    if (created) log_text("created a new key file " + path);
    if (flags.dev) log_text("dev mode with the key of " + path);
  }

  // TLS.
  std::unique_ptr<derp::tls::ServerConfig> tls;
  if (use_tls) {
    const std::string certdir = flags.certdir.empty() ? derper::default_certdir() : flags.certdir;
    if (!derper::load_certificate(flags.certmode, certdir, flags.hostname, &tls, &error)) return fail(1, error);
  }

  // Admission.
  derper::AllowList allow;
  if (verify && !allow.load(flags.allow_list, &error)) return fail(1, error);

  derp::uv::UvServerOptions options;
  options.core.private_key = key;
  options.core.write_timeout = flags.tcp_write_timeout;
  options.core.replay_cache_keys = static_cast<std::size_t>(flags.replay_cache_keys);
  options.core.partial_frame_budget = static_cast<std::size_t>(flags.partial_frame_budget);
  options.fd_limit = static_cast<std::size_t>(flags.fd_limit);
  options.core.serve_derp = flags.derp;
  options.core.home = home;
  if (!load_mesh_key(flags, &options.core.mesh_key, &error)) return fail(1, error);
  if (!mesh_peers.empty() && !options.core.mesh_key) return fail(2, "-mesh-with requires -mesh-psk-file");
  if (verify) {
    options.core.admit = [&allow](const derp::crypto::NodePublic& client, const derp_addr&) {
      return allow.admits(client);
    };
  }
  options.core.random_seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  options.core.log = log_line;
  options.tcp_listen = {flags.addr};
  options.tls = tls.get();
  if (flags.stun) options.stun_listen = {host + ":" + std::to_string(flags.stun_port)};
  options.accept_rate = flags.accept_connection_limit;
  options.accept_burst = static_cast<std::uint64_t>(flags.accept_connection_burst);
  options.tcp_keepalive = flags.tcp_keepalive_time;
  options.tcp_user_timeout = flags.tcp_user_timeout;

  uv_loop_t* loop = uv_default_loop();
  Daemon daemon;
  // Signals are caught before anything listens, so that once "listening on" is logged a SIGINT or SIGTERM is
  // always a graceful stop. (A script's background job starts with SIGINT ignored: one arriving between the
  // listen and a later uv_signal_start was lost, and the server kept running.) The callbacks run only inside
  // uv_run, when the servers exist.
  uv_signal_init(loop, &daemon.sigint);
  uv_signal_init(loop, &daemon.sigterm);
  daemon.sigint.data = &daemon;
  daemon.sigterm.data = &daemon;
  auto on_signal = [](uv_signal_t* handle, int signum) { static_cast<Daemon*>(handle->data)->on_signal(signum); };
  uv_signal_start(&daemon.sigint, on_signal, SIGINT);
  uv_signal_start(&daemon.sigterm, on_signal, SIGTERM);
  signal(SIGPIPE, SIG_IGN);  // a peer that vanished mid-write is an error code, not a reason to die
  derp::crypto::NodePublic public_key;
  derp::crypto::public_of(key, &public_key);
  log_text(std::string("derper (libderp ") + derp_version_string() + "), server key " +
           derp::crypto::format_public(public_key) + " " + derp::crypto::short_string(public_key));
  if (verify) log_text("admitting only the " + std::to_string(allow.size()) + " keys of " + flags.allow_list);

  if (derp::uv::UvServer::create(loop, std::move(options), &daemon.main, &error) != DERP_OK ||
      daemon.main->listen(&error) != DERP_OK) {
    return fail(1, error);
  }
  if (!flags.verify_client_url.empty()) {
    derp::uv::UvAdmissionOptions admit;
    admit.url = flags.verify_client_url;
    admit.fail_open = flags.verify_client_url_fail_open;
    admit.log = log_line;
    if (derp::uv::UvAdmission::create(loop, daemon.main->core(), std::move(admit), &daemon.admission, &error) !=
        DERP_OK) {
      return fail(2, error);
    }
    log_text("asking " + flags.verify_client_url + " about every new client (fail-" +
             (flags.verify_client_url_fail_open ? "open" : "closed") + ")");
  }
  if (!mesh_peers.empty()) {
    derp::uv::UvMeshOptions mesh;
    mesh.peers = std::move(mesh_peers);
    mesh.log = log_line;
    if (derp::uv::UvMesh::create(loop, daemon.main->core(), std::move(mesh), &daemon.mesh, &error) != DERP_OK) {
      return fail(1, error);
    }
    log_text("meshing with " + std::to_string(daemon.mesh->status().size()) + " servers (-mesh-with)");
    daemon.mesh->start();
  }
  if (use_tls) {
    log_text("TLS certificate for " + flags.hostname + ": " + tls->cert_name());
    if (derp::is_ip_literal(flags.hostname)) {
      // A self-signed IP certificate: clients trust it through this pin (reference §1.5, §7).
      log_text("DERPNode for this server: " + derper::derp_node_json(flags.hostname, tls->cert_name(),
                                                                       listen.addr.port, flags.stun ? flags.stun_port : -1));
    }
    if (flags.http_port != -1) {
      // Plain HTTP next to TLS: captive-portal checks and probes, no DERP (reference §1.7).
      derp::uv::UvServerOptions plain;
      plain.core.private_key = key;
      plain.core.serve_derp = false;
      plain.core.home.kind = derp::server::HomePage::Kind::Redirect;
      const std::string authority =
          (flags.hostname.find(':') != std::string::npos ? "[" + flags.hostname + "]" : flags.hostname) +
          (listen.addr.port == 443 ? "" : ":" + std::to_string(listen.addr.port));
      plain.core.home.redirect_url = "https://" + authority + "/";
      plain.core.log = [](LogLevel level, std::string_view text) {
        log_line(level, "http-port: " + std::string(text));
      };
      plain.tcp_listen = {host + ":" + std::to_string(flags.http_port)};
      plain.tcp_keepalive = flags.tcp_keepalive_time;
      plain.tcp_user_timeout = flags.tcp_user_timeout;
      if (derp::uv::UvServer::create(loop, std::move(plain), &daemon.http80, &error) != DERP_OK ||
          daemon.http80->listen(&error) != DERP_OK) {
        return fail(1, error);
      }
    }
  }

  uv_run(loop, UV_RUN_DEFAULT);
  daemon.admission.reset();
  daemon.mesh.reset();  // before the core it feeds
  daemon.http80.reset();
  daemon.main.reset();
  uv_loop_close(loop);
  return 0;
}
