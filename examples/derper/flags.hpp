// derper's command line, as Tailscale's derper spells it (reference §7): Go-style flags with one dash (two are
// accepted too), "-flag=value" or "-flag value", bool flags as "-flag" or "-flag=false". derper flags this
// server cannot honour yet are recognised and refused by name, so nobody runs it believing they took effect.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace derper {

using Nanos = std::uint64_t;

struct Flags {
  std::string addr = ":443";          // -a
  int http_port = 80;                 // -http-port; -1 = off
  bool stun = true;                   // -stun
  int stun_port = 3478;               // -stun-port
  bool derp = true;                   // -derp
  std::string certmode = "letsencrypt";
  std::string certdir;                // default: user cache dir + /tailscale/derper-certs
  std::string hostname = "derp.tailscale.com";
  std::string config_path;            // -c
  bool dev = false;
  bool verify_clients = false;
  std::string allow_list;             // ours: the key list -verify-clients checks against
  std::string mesh_psk_file;          // -mesh-psk-file; default: derper's search (see main.cpp)
  bool mesh_psk_file_set = false;
  std::string verify_client_url;      // -verify-client-url
  bool verify_client_url_fail_open = true;
  std::string mesh_with;              // -mesh-with: comma-separated peers (host, host/ip, or an http(s) URL)
  bool addr_set = false;  // -a was given (then -dev keeps it instead of forcing :3340)
  double accept_connection_limit = std::numeric_limits<double>::infinity();
  std::int64_t accept_connection_burst = std::numeric_limits<std::int64_t>::max();
  std::string home;
  Nanos tcp_keepalive_time = 10ull * 60 * 1'000'000'000;
  Nanos tcp_user_timeout = 15ull * 1'000'000'000;
  Nanos tcp_write_timeout = 2ull * 1'000'000'000;
  std::int64_t replay_cache_keys = 16384;            // ours (issue 15); derper has none of these three
  std::int64_t partial_frame_budget = 64ll << 20;
  std::int64_t fd_limit = 0;
  bool verbose = false;
  bool version = false;
  bool help = false;
};

// Fills *flags from argv. false with *error set ("flag -x ...") on anything wrong; the caller prints it and the
// usage and exits 2, as Go's flag package does.
bool parse_flags(int argc, char** argv, Flags* flags, std::string* error);

// The --help text: every supported flag with its default, then the derper flags refused and why.
std::string usage_text(const char* program);

// Go's time.ParseDuration for the forms flags use ("10m", "15s", "1h30m", "500ms", "0"). false when malformed.
bool parse_go_duration(const std::string& text, Nanos* out);

}  // namespace derper
