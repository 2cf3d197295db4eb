// derp-client's command line: global options, then one command with its own options.
#pragma once

#include <string>
#include <vector>

namespace derp_client {

enum class Command { None, PubKey, Send, Recv, Echo, Ping, Watch };

struct Args {
  // Target: --server URL, or --derpmap FILE with --region ID.
  std::string server_url;
  std::string derpmap_path;
  int region = 0;
  bool have_region = false;
  std::string key_file;      // "" = a throw-away key
  bool insecure = false;     // accept any TLS certificate (tests only)
  std::string ca_file;       // one more PEM file of trusted roots
  std::string cert_name;     // CertName for a --server URL: "sha256-raw:<hex>" pins a self-signed certificate
  bool fast_start = false;
  bool websocket = false;
  bool plain_http = false;   // DERPMap nodes over plain HTTP (derper -dev)
  double connect_timeout = 10;
  bool verbose = false;
  bool version = false;      // --version: print it and exit (nothing else is parsed)

  Command command = Command::None;
  std::string peer;          // send: NODEKEY
  std::string text;          // send: TEXT
  bool wait_reply = false;   // send --wait-reply
  double timeout = -1;       // seconds; < 0: the command's default
  long count = -1;           // send/recv/echo/ping/watch --count; < 0: the command's default
  double interval_ms = 1000; // send --interval-ms: the gap between packets when --count > 1

  // The direct path: start on DERP, move to a direct UDP path when the NATs allow (Tailscale's disco format).
  bool direct = false;
  std::string udp_bind;      // --udp-bind ADDR:PORT ("" = 0.0.0.0:0)
  std::string udp_bind6;     // --udp-bind6 [ADDR]:PORT or off ("" = [::]:0 beside a wildcard --udp-bind)
  std::string stun;          // --stun HOST:PORT, a literal or a name ("" = the server's host, port 3478)
  std::string stun6;         // --stun6 HOST:PORT for the IPv6 socket ("" = as --stun)
  bool unsealed = false;     // --unsealed: direct datagrams carry the bytes unchanged (no box)
};

// Parses argv. On a usage error returns false with *error set (the caller prints usage and exits 2).
bool parse_args(int argc, char** argv, Args* out, std::string* error);

// The usage text, for --help and usage errors.
const char* usage_text();

}  // namespace derp_client
