#include "flags.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>

namespace derper {

namespace {

enum class Kind { Bool, String, Int, Float, Duration };

struct FlagSpec {
  const char* name;
  Kind kind;
  std::function<bool(const std::string& value, Flags* f)> set;
  const char* default_text;
  const char* help;
};

// derper flags we recognise but do not implement, and why.
struct Refused {
  const char* name;
  bool is_bool;
  const char* why;
};

bool parse_go_bool(const std::string& v, bool* out) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") {
    *out = true;
    return true;
  }
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") {
    *out = false;
    return true;
  }
  return false;
}

bool parse_int(const std::string& v, std::int64_t* out) {
  if (v.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = n;
  return true;
}

bool parse_port_flag(const std::string& v, int* out) {
  std::int64_t n = 0;
  if (!parse_int(v, &n) || n < -1 || n > 65535) return false;
  *out = static_cast<int>(n);
  return true;
}

bool parse_float(const std::string& v, double* out) {
  if (v.empty()) return false;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (*end != '\0' || std::isnan(d)) return false;
  *out = d;
  return true;
}

const std::vector<FlagSpec>& specs() {
  static const std::vector<FlagSpec> all = {
      {"a", Kind::String, [](const std::string& v, Flags* f) { f->addr = v; f->addr_set = true; return true; }, ":443",
       "server HTTP/HTTPS listen address, \"ip:port\", \"[ip6]:port\" or \":port\" (every address). TLS is used when "
       "the port is 443 or -certmode is manual"},
      {"http-port", Kind::Int, [](const std::string& v, Flags* f) { return parse_port_flag(v, &f->http_port); }, "80",
       "plain HTTP port in TLS mode, same IP as -a; -1 turns it off. It answers /generate_204 (captive-portal "
       "checks) and the probes, redirects / to https://<hostname>/, and never serves DERP (derper redirects every "
       "other GET/HEAD to https; here other paths get 404)"},
      {"stun", Kind::Bool, [](const std::string& v, Flags* f) { return parse_go_bool(v, &f->stun); }, "true",
       "run a STUN server on UDP -stun-port"},
      {"stun-port", Kind::Int, [](const std::string& v, Flags* f) { return parse_port_flag(v, &f->stun_port); },
       "3478", "UDP port of the STUN server, same IP as -a"},
      {"derp", Kind::Bool, [](const std::string& v, Flags* f) { return parse_go_bool(v, &f->derp); }, "true",
       "serve DERP on /derp; when false /derp answers 404 and the probes and STUN keep working"},
      {"certmode", Kind::String, [](const std::string& v, Flags* f) { f->certmode = v; return true; }, "letsencrypt",
       "how TLS certificates are obtained: only \"manual\" is supported (<certdir>/<hostname>.crt and .key; an IP "
       "-hostname gets a self-signed certificate made and kept there). \"letsencrypt\" and \"gcp\" need ACME, which "
       "this server does not implement"},
      {"certdir", Kind::String, [](const std::string& v, Flags* f) { f->certdir = v; return true; },
       "$XDG_CACHE_HOME or ~/.cache, + /tailscale/derper-certs", "directory of the manual-mode certificate files"},
      {"hostname", Kind::String, [](const std::string& v, Flags* f) { f->hostname = v; return true; },
       "derp.tailscale.com", "TLS host name: the certificate's name, and the SNI clients must send (any SNI when it "
       "is an IP)"},
      {"c", Kind::String, [](const std::string& v, Flags* f) { f->config_path = v; return true; }, "",
       "key file, JSON {\"PrivateKey\":\"privkey:<hex>\"}; created (mode 0600) with a fresh key when missing, in a "
       "directory that must exist. Empty: /var/lib/derper/derper.key when running as root (its directory is created "
       "if needed), otherwise required. Used with -dev too (derper ignores -c there)"},
      {"dev", Kind::Bool, [](const std::string& v, Flags* f) { return parse_go_bool(v, &f->dev); }, "false",
       "development mode: plain HTTP on :3340 (or on -a when it is given, e.g. 127.0.0.1:3340 for loopback only), a "
       "throw-away key unless -c names a key file, STUN on -stun-port"},
      {"verify-clients", Kind::Bool,
       [](const std::string& v, Flags* f) { return parse_go_bool(v, &f->verify_clients); }, "false",
       "admit only known clients. derper asks the local tailscaled; this server checks the node keys listed in "
       "-allow-list instead (required with this flag)"},
      {"allow-list", Kind::String, [](const std::string& v, Flags* f) { f->allow_list = v; return true; }, "",
       "(libderp) file of node keys to admit, one \"nodekey:<64 hex>\" per line, # comments allowed; implies "
       "-verify-clients. Refused clients are closed without a message, as derper does"},
      {"verify-client-url", Kind::String, [](const std::string& v, Flags* f) { f->verify_client_url = v; return true; },
       "", "admission controller: for each new client (mesh peers excepted) POST {\"NodePublic\":\"nodekey:...\","
       "\"Source\":\"<ip>\"} to this URL and admit it only on HTTP 200 with {\"Allow\":true}; 5 s per check, 32 "
       "checks at once (1024 more wait), one log line per refusal. Plain http:// only here (derper also takes https)"},
      {"verify-client-url-fail-open", Kind::Bool,
       [](const std::string& v, Flags* f) { return parse_go_bool(v, &f->verify_client_url_fail_open); }, "true",
       "admit clients when -verify-client-url cannot be reached (DNS, connect, or no answer within 5 s)"},
      {"mesh-psk-file", Kind::String,
       [](const std::string& v, Flags* f) {
         f->mesh_psk_file = v;
         f->mesh_psk_file_set = true;
         return true;
       },
       "first existing of /home/derp/keys/derp-mesh.key, $HOME/keys/derp-mesh.key",
       "mesh key file (64 hex digits). Clients presenting it may watch connections and forward packets, and "
       "-mesh-with dials other servers with it"},
      {"mesh-with", Kind::String, [](const std::string& v, Flags* f) { f->mesh_with = v; return true; }, "",
       "comma-separated servers of this region to mesh with (needs the mesh key): \"host\" is dialled as "
       "https://host/derp (port 443, system CA store), \"host/ip\" connects to ip with host as the TLS name, and "
       "(libderp) a full URL such as http://10.0.0.2:3340/derp or https://host:8443/derp is dialled as written. The "
       "list may name this server too: a link that reaches our own key stops, as derper's does"},
      {"accept-connection-limit", Kind::Float,
       [](const std::string& v, Flags* f) { return parse_float(v, &f->accept_connection_limit); }, "+Inf",
       "accepted connections per second; over the limit a connection is closed at once. derper limits its TLS "
       "listener only; here it applies to the -a listener in either mode"},
      {"accept-connection-burst", Kind::Int,
       [](const std::string& v, Flags* f) {
         return parse_int(v, &f->accept_connection_burst) && f->accept_connection_burst >= 0;
       },
       "9223372036854775807", "burst of the accept limiter"},
      {"home", Kind::String, [](const std::string& v, Flags* f) { f->home = v; return true; }, "",
       "root page: \"\" (a short page about this server), \"blank\" (empty), or an http(s):// URL to redirect to"},
      {"tcp-keepalive-time", Kind::Duration,
       [](const std::string& v, Flags* f) { return parse_go_duration(v, &f->tcp_keepalive_time); }, "10m",
       "TCP keep-alive period for accepted connections; 0 turns it off"},
      {"tcp-user-timeout", Kind::Duration,
       [](const std::string& v, Flags* f) { return parse_go_duration(v, &f->tcp_user_timeout); }, "15s",
       "TCP_USER_TIMEOUT for accepted connections (Linux); 0 keeps the kernel's"},
      {"tcp-write-timeout", Kind::Duration,
       [](const std::string& v, Flags* f) { return parse_go_duration(v, &f->tcp_write_timeout); }, "2s",
       "a client whose output makes no progress for this long is disconnected; 0 turns it off"},
      {"replay-cache-keys", Kind::Int,
       [](const std::string& v, Flags* f) { return parse_int(v, &f->replay_cache_keys) && f->replay_cache_keys >= 0; },
       "16384",
       "(libderp) client keys without a live connection whose recent ClientInfo nonces are kept (about 300 bytes "
       "each), so that a replayed ClientInfo is refused; keys with a live connection are kept besides. 0 turns "
       "replay detection off"},
      {"partial-frame-budget", Kind::Int,
       [](const std::string& v, Flags* f) {
         return parse_int(v, &f->partial_frame_budget) && f->partial_frame_budget >= 0;
       },
       "67108864",
       "(libderp) bytes all connections together may hold in incomplete frames; past it, a connection holding more "
       "than its share is closed (and counted). 0: no budget"},
      {"fd-limit", Kind::Int,
       [](const std::string& v, Flags* f) { return parse_int(v, &f->fd_limit) && f->fd_limit >= 0; }, "0",
       "(libderp) connections beyond this many are closed at once and counted (derp_accept_failures reason "
       "fd_limit) instead of meeting EMFILE; 0: the descriptor limit (ulimit -n) minus 64"},
      {"verbose", Kind::Bool, [](const std::string& v, Flags* f) { return parse_go_bool(v, &f->verbose); }, "false",
       "log more: every HTTP request answered, transport errors"},
      {"version", Kind::Bool, [](const std::string& v, Flags* f) { return parse_go_bool(v, &f->version); }, "false",
       "print the version and exit"},
  };
  return all;
}

const std::vector<Refused>& refused() {
  static const std::vector<Refused> all = {
      {"bootstrap-dns-names", false, "/bootstrap-dns is not served yet"},
      {"unpublished-bootstrap-dns-names", false, "/bootstrap-dns is not served yet"},
      {"socket", false, "there is no tailscaled LocalAPI client; -verify-clients reads -allow-list instead"},
      {"rate-config", false, "per-client receive rate limits are not implemented"},
      {"acme-eab-kid", false, "ACME is not supported; use -certmode manual"},
      {"acme-eab-key", false, "ACME is not supported; use -certmode manual"},
      {"acme-email", false, "ACME is not supported; use -certmode manual"},
      {"acme-ip-certs", true, "ACME is not supported; an IP -hostname in manual mode gets a self-signed certificate"},
      {"secrets-url", false, "setec secrets are not supported; use -mesh-psk-file"},
      {"secrets-path-prefix", false, "setec secrets are not supported; use -mesh-psk-file"},
      {"secrets-cache-dir", false, "setec secrets are not supported; use -mesh-psk-file"},
      {"ace", true, "the CONNECT proxy is not implemented"},
  };
  return all;
}

}  // namespace

bool parse_go_duration(const std::string& text, Nanos* out) {
  if (text == "0") {
    *out = 0;
    return true;
  }
  if (text.empty()) return false;
  double total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (i == start) return false;
    const double number = std::strtod(text.substr(start, i - start).c_str(), nullptr);
    const std::size_t unit_start = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.') ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else {
      return false;  // a missing or unknown unit
    }
    total += number * scale;
  }
  if (total > 1.8e19) return false;
  *out = static_cast<Nanos>(total);
  return true;
}

bool parse_flags(int argc, char** argv, Flags* flags, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      if (i + 1 < argc) {
        *error = std::string("unexpected argument \"") + argv[i + 1] + "\"";
        return false;
      }
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      *error = "unexpected argument \"" + arg + "\"";
      return false;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string value;
    bool has_value = false;
    if (const std::size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "h" || name == "help") {
      flags->help = true;
      continue;
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs()) {
      if (name == s.name) spec = &s;
    }
    if (spec == nullptr) {
      for (const Refused& r : refused()) {
        if (name == r.name) {
          *error = "flag -" + name + " is not supported yet: " + r.why;
          return false;
        }
      }
      *error = "flag provided but not defined: -" + name;
      return false;
    }
    if (spec->kind == Kind::Bool) {
      if (!has_value) value = "true";  // Go: a bool flag takes no separate argument
    } else if (!has_value) {
      if (i + 1 >= argc) {
        *error = "flag needs an argument: -" + name;
        return false;
      }
      value = argv[++i];
    }
    if (!spec->set(value, flags)) {
      *error = "invalid value \"" + value + "\" for flag -" + name;
      return false;
    }
  }
  return true;
}

// A manual page's sections (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS), since derper has no man page of
// its own; the OPTIONS list keeps Go's flag-package layout (name, type, help, default) that derper users know.
std::string usage_text(const char* program) {
  std::string p = program;  // the name as a manual page spells it: no directory
  if (const std::size_t slash = p.rfind('/'); slash != std::string::npos) p = p.substr(slash + 1);
  std::string out =
      "NAME\n"
      "    " + p + " - a DERP relay and STUN server (libderp), compatible with Tailscale's derper\n"
      "\n"
      "SYNOPSIS\n"
      "    " + p + " -dev [-a ADDR] [-c KEYFILE] [FLAGS]\n"
      "    " + p + " -c KEYFILE [-a ADDR] [-certmode manual -certdir DIR -hostname NAME] [FLAGS]\n"
      "    " + p + " -help | -version\n"
      "\n"
      "DESCRIPTION\n"
      "    Relays packets between DERP clients by their public keys over HTTP or HTTPS (the 101 upgrade on /derp,\n"
      "    or WebSocket), answers STUN binding requests on UDP, and serves the probes Tailscale clients use\n"
      "    (/derp/probe, /derp/latency-check, /generate_204). -dev serves plain HTTP on :3340; otherwise TLS is\n"
      "    used when the -a port is 443 or -certmode is manual. Logs go to stderr.\n"
      "\n"
      "OPTIONS\n";
  for (const FlagSpec& s : specs()) {
    out += std::string("  -") + s.name;
    switch (s.kind) {
      case Kind::Bool: break;
      case Kind::String: out += " string"; break;
      case Kind::Int: out += " int"; break;
      case Kind::Float: out += " float"; break;
      case Kind::Duration: out += " duration"; break;
    }
    out += "\n    \t" + std::string(s.help);
    if (s.default_text[0] != '\0') out += std::string(" (default ") + s.default_text + ")";
    out += "\n";
  }
  out += "  -help\n    \tprint this text and exit\n"
         "\n"
         "  Flags take one dash or two; values as -flag=value or -flag value (bool flags: -flag or -flag=false).\n"
         "\n"
         "  Tailscale derper flags refused here (exit status 2 when given):\n";
  for (const Refused& r : refused()) out += std::string("  -") + r.name + "\n    \t" + r.why + "\n";
  out += "\n"
         "SIGNALS\n"
         "    SIGINT or SIGTERM: clients are told the server is restarting, then it stops within a few seconds; a\n"
         "    second signal closes every connection at once.\n"
         "\n"
         "EXIT STATUS\n"
         "    0  stopped by a signal, or -help / -version\n"
         "    1  could not start: the key file, certificate, allow list or mesh key cannot be read or created, or\n"
         "       a listen address is in use\n"
         "    2  usage: an unknown, malformed or refused flag (-certmode letsencrypt|gcp, -mesh-with, ...), or a\n"
         "       flag combination that cannot work (-verify-clients without -allow-list)\n";
  return out;
}

}  // namespace derper
