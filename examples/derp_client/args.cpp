#include "args.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace derp_client {

// Laid out as a manual page (NAME, SYNOPSIS, DESCRIPTION, COMMANDS, OPTIONS, EXIT STATUS): the installed tool
// has no other documentation at hand.
const char* usage_text() {
  return "NAME\n"
         "    derp-client - a scriptable DERP client: send, receive, echo and watch packets through a DERP server\n"
         "\n"
         "SYNOPSIS\n"
         "    derp-client [--key-file F] pubkey\n"
         "    derp-client (--server URL | --derpmap FILE --region ID) [OPTIONS] COMMAND [ARGS]\n"
         "    derp-client --help | --version\n"
         "\n"
         "DESCRIPTION\n"
         "    Connects to a DERP server (Tailscale's derper or ours) as one node key and runs one command. Packets\n"
         "    and command results go to stdout, one line each; connection news and errors go to stderr (a line\n"
         "    \"derp-client: connected ...\" once the server has registered us). recv, echo and watch reconnect by\n"
         "    themselves after a loss (with backoff, honouring the server's Restarting hint); send and ping give up.\n"
         "\n"
         "COMMANDS\n"
         "  pubkey                        print this client's nodekey:<hex> (creates --key-file with a new key\n"
         "                                if missing; the file is derper's JSON form {\"PrivateKey\":\"privkey:...\"})\n"
         "  send NODEKEY TEXT [--count N] [--interval-ms MS] [--wait-reply] [--timeout S]\n"
         "                                send one packet (TEXT as bytes; \"hex:...\" for binary), or N of them MS\n"
         "                                milliseconds apart (default 1000); with --wait-reply print each packet\n"
         "                                back from NODEKEY as \"<nodekey> <payload>\" (with --direct followed by\n"
         "                                \"via direct\" or \"via derp\") and exit 0 after N replies, or exit 1\n"
         "                                after S seconds (default 10)\n"
         "  recv [--count N] [--timeout S]  print \"<src nodekey> <payload>\" per packet (text when printable,\n"
         "                                else hex:...); exit 0 after N packets, 1 if S seconds pass first\n"
         "  echo [--count N]              send every packet back to its sender unchanged\n"
         "  ping [--count N]              ping the server (default 3 times, 1 s apart), print each round trip\n"
         "  watch [--timeout S]           print events: packets, peer gone/present, health, restarting, reconnects\n"
         "\n"
         "OPTIONS\n"
         "  --server URL        http://host[:port][/path] or https://... (path defaults to /derp)\n"
         "  --derpmap FILE      Tailscale DERPMap JSON; --region ID picks the region (nodes tried in order)\n"
         "  --region ID         with --derpmap: the region to connect to\n"
         "  --key-file F        this node's key, derper's JSON form; created (mode 0600) when missing, in a\n"
         "                      directory that must exist. Without it: a throw-away key\n"
         "  --insecure          accept any TLS certificate (tests only)\n"
         "  --ca FILE           also trust the PEM certificates in FILE\n"
         "  --cert-name NAME    with --server: verify this name instead of the URL's host, or sha256-raw:<hex> pin\n"
         "  --fast-start        ask the server to skip the 101 response (Derp-Fast-Start: 1)\n"
         "  --websocket         DERP over WebSocket instead of the 101 upgrade\n"
         "  --plain-http        dial DERPMap nodes over plain HTTP (derper -dev)\n"
         "  --connect-timeout S give up connecting after S seconds (default 10)\n"
         "  --direct            start on DERP and move to a direct UDP path when the NATs allow (Tailscale's\n"
         "                      disco); prints \"path nodekey:<hex> direct <ip:port> rtt <ms>\" or\n"
         "                      \"path nodekey:<hex> derp\" whenever a peer's path changes\n"
         "  --udp-bind ADDR:PORT  with --direct: the UDP socket's address (default 0.0.0.0:0, with an IPv6 socket\n"
         "                      on [::]:0 beside it; an [ipv6]:port opens the IPv6 socket only)\n"
         "  --udp-bind6 [ADDR]:PORT  with --direct: the IPv6 socket's address, or \"off\" for none\n"
         "  --stun HOST:PORT    with --direct: the STUN server, an IP literal or a name (looked up per family;\n"
         "                      port 3478 when left out; default: the server URL's host, port 3478)\n"
         "  --stun6 HOST:PORT   with --direct: the IPv6 socket's STUN server, in place of --stun's\n"
         "  --unsealed          with --direct: direct datagrams carry the bytes unchanged, as Tailscale sends\n"
         "                      WireGuard (default: each is sealed with the pair's disco key; both sides alike)\n"
         "  --verbose, -v       log the connection's steps to stderr\n"
         "  --help, -h          print this text and exit\n"
         "  --version           print the library version and exit\n"
         "\n"
         "EXIT STATUS\n"
         "    0  done; 1 timed out waiting for packets or replies; 2 usage, bad URL, bad key, bad pin or bad file;\n"
         "    3  could not connect (DNS, TCP, TLS or DERP handshake) or the connection was lost\n";
}

namespace {

bool parse_number(const char* text, double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= 0)) return false;
  *out = v;
  return true;
}

bool parse_count(const char* text, long* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 1) return false;
  *out = v;
  return true;
}

}  // namespace

bool parse_args(int argc, char** argv, Args* out, std::string* error) {
  Args a;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    // Options that take a value: "--name value" or "--name=value".
    auto value = [&](std::string_view name, std::string* v) -> int {
      if (arg == name) {
        if (i + 1 >= argc) {
          *error = std::string(name) + " needs a value";
          return -1;
        }
        *v = argv[++i];
        return 1;
      }
      if (arg.size() > name.size() + 1 && arg.substr(0, name.size()) == name && arg[name.size()] == '=') {
        *v = std::string(arg.substr(name.size() + 1));
        return 1;
      }
      return 0;
    };
    std::string v;
    int r;
    if ((r = value("--server", &a.server_url))) {
    } else if ((r = value("--derpmap", &a.derpmap_path))) {
    } else if ((r = value("--key-file", &a.key_file))) {
    } else if ((r = value("--ca", &a.ca_file))) {
    } else if ((r = value("--cert-name", &a.cert_name))) {
    } else if ((r = value("--region", &v))) {
      double d = 0;
      if (r > 0 && (!parse_number(v.c_str(), &d) || d != static_cast<int>(d))) {
        *error = "--region needs a region id, got \"" + v + "\"";
        return false;
      }
      a.region = static_cast<int>(d);
      a.have_region = true;
    } else if ((r = value("--connect-timeout", &v))) {
      if (r > 0 && (!parse_number(v.c_str(), &a.connect_timeout) || a.connect_timeout <= 0)) {
        *error = "--connect-timeout needs a positive number of seconds";
        return false;
      }
    } else if ((r = value("--timeout", &v))) {
      if (r > 0 && !parse_number(v.c_str(), &a.timeout)) {
        *error = "--timeout needs a number of seconds";
        return false;
      }
    } else if ((r = value("--udp-bind", &a.udp_bind))) {
    } else if ((r = value("--udp-bind6", &a.udp_bind6))) {
    } else if ((r = value("--stun", &a.stun))) {
    } else if ((r = value("--stun6", &a.stun6))) {
    } else if ((r = value("--interval-ms", &v))) {
      if (r > 0 && !parse_number(v.c_str(), &a.interval_ms)) {
        *error = "--interval-ms needs a number of milliseconds";
        return false;
      }
    } else if ((r = value("--count", &v))) {
      if (r > 0 && !parse_count(v.c_str(), &a.count)) {
        *error = "--count needs a positive integer";
        return false;
      }
    } else if (arg == "--insecure") {
      a.insecure = true;
    } else if (arg == "--fast-start") {
      a.fast_start = true;
    } else if (arg == "--websocket") {
      a.websocket = true;
    } else if (arg == "--plain-http") {
      a.plain_http = true;
    } else if (arg == "--direct") {
      a.direct = true;
    } else if (arg == "--unsealed") {
      a.unsealed = true;
    } else if (arg == "--wait-reply") {
      a.wait_reply = true;
    } else if (arg == "--verbose" || arg == "-v") {
      a.verbose = true;
    } else if (arg == "--help" || arg == "-h") {
      *error = "";
      return false;
    } else if (arg == "--version") {
      out->version = true;
      return true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      *error = "unknown option " + std::string(arg);
      return false;
    } else {
      positional.emplace_back(arg);
      continue;
    }
    if (r < 0) return false;
  }

  if (positional.empty()) {
    *error = "no command given";
    return false;
  }
  const std::string& cmd = positional[0];
  const std::size_t want = cmd == "send" ? 3 : 1;
  if (cmd == "pubkey") a.command = Command::PubKey;
  else if (cmd == "send") a.command = Command::Send;
  else if (cmd == "recv") a.command = Command::Recv;
  else if (cmd == "echo") a.command = Command::Echo;
  else if (cmd == "ping") a.command = Command::Ping;
  else if (cmd == "watch") a.command = Command::Watch;
  else {
    *error = "unknown command \"" + cmd + "\"";
    return false;
  }
  if (positional.size() != want) {
    *error = cmd == "send" ? "send needs NODEKEY and TEXT" : cmd + " takes no arguments";
    return false;
  }
  if (a.command == Command::Send) {
    a.peer = positional[1];
    a.text = positional[2];
  }
  if (a.command != Command::PubKey) {
    if (a.server_url.empty() == a.derpmap_path.empty()) {
      *error = "give exactly one of --server URL and --derpmap FILE";
      return false;
    }
    if (!a.derpmap_path.empty() && !a.have_region) {
      *error = "--derpmap needs --region ID";
      return false;
    }
  }
  if (!a.direct && (!a.udp_bind.empty() || !a.udp_bind6.empty() || !a.stun.empty() || !a.stun6.empty() ||
                    a.unsealed)) {
    *error = "--udp-bind, --udp-bind6, --stun, --stun6 and --unsealed need --direct";
    return false;
  }
  *out = std::move(a);
  return true;
}

}  // namespace derp_client
