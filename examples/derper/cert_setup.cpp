#include "cert_setup.hpp"

#include <cstdlib>

#include "derp/common.h"

namespace derper {

bool wants_tls(int listen_port, const std::string& certmode) { return listen_port == 443 || certmode == "manual"; }

std::string default_certdir() {
  // Go's os.UserCacheDir on Linux: $XDG_CACHE_HOME, else $HOME/.cache.
  std::string base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] != '\0') {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    base = std::string(home) + "/.cache";
  } else {
    base = ".";
  }
  return base + "/tailscale/derper-certs";
}

bool check_certmode(const std::string& certmode, std::string* error) {
  if (certmode == "letsencrypt" || certmode == "gcp") {
    *error = "-certmode " + certmode + " needs ACME, which this server does not support. Use -certmode manual "
             "with <certdir>/<hostname>.crt and .key (an IP -hostname gets a self-signed certificate), or serve "
             "plain HTTP with an -a port other than 443";
    return false;
  }
  if (certmode != "manual") {
    *error = "unsupported -certmode \"" + certmode + "\" (only manual is supported)";
    return false;
  }
  return true;
}

bool load_certificate(const std::string& certmode, const std::string& certdir, const std::string& hostname,
                      std::unique_ptr<derp::tls::ServerConfig>* out, std::string* error) {
  if (!check_certmode(certmode, error)) return false;
  std::string detail;
  if (derp::tls::ServerConfig::load_manual(certdir, hostname, out, &detail) != DERP_OK) {
    *error = "manual certificate for " + hostname + ": " + detail;
    return false;
  }
  return true;
}

std::string derp_node_json(const std::string& hostname, const std::string& cert_name, int derp_port, int stun_port) {
  // The region is one of the IDs reserved for self-hosting (900-999, reference §7).
  std::string json = "{\"Name\":\"custom\",\"RegionID\":900,\"HostName\":\"" + hostname + "\",\"CertName\":\"" +
                     cert_name + "\"";
  if (derp_port != 443) json += ",\"DERPPort\":" + std::to_string(derp_port);
  if (stun_port != 3478) json += ",\"STUNPort\":" + std::to_string(stun_port);
  return json + "}";
}

}  // namespace derper
