// TLS for derper (reference §1.5, §7): which mode the flags ask for, and the certificate in manual mode,
// including derper's self-signed certificate for an IP -hostname, whose pin clients put in DERPNode.CertName.
#pragma once

#include <memory>
#include <string>

#include "tls/server_config.hpp"

namespace derper {

// derper's rule: TLS when the -a port is 443 or the cert mode is manual.
bool wants_tls(int listen_port, const std::string& certmode);

// Whether the cert mode can be served at all, before anything is read or written: false with *error for the ACME
// modes (not supported) and unknown ones.
bool check_certmode(const std::string& certmode, std::string* error);

// The manual-mode configuration from certdir and hostname. false with *error for ACME modes (not supported) and
// for files that are missing or do not match.
bool load_certificate(const std::string& certmode, const std::string& certdir, const std::string& hostname,
                      std::unique_ptr<derp::tls::ServerConfig>* out, std::string* error);

// derper's default -certdir: the user cache directory + /tailscale/derper-certs.
std::string default_certdir();

// The DERPNode a client needs for a server with a self-signed IP certificate, as one JSON line.
std::string derp_node_json(const std::string& hostname, const std::string& cert_name, int derp_port, int stun_port);

}  // namespace derper
