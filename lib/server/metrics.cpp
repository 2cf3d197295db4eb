// The Prometheus text exposition of a server's counters (served at /debug/varz and /metrics).
#include <string>

#include "server/server.hpp"

namespace derp::server {

namespace {
#define DERP_LABEL_(member, label) label,
constexpr const char* kHandshakeFailureLabels[] = {DERP_SERVER_HANDSHAKE_FAILURE_MAP(DERP_LABEL_)};
constexpr const char* kDropReasonLabels[] = {DERP_SERVER_DROP_REASON_MAP(DERP_LABEL_)};
#undef DERP_LABEL_
constexpr const char* kKindLabels[] = {"disco", "other"};

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}
}  // namespace

const char* handshake_failure_label(HandshakeFailure f) { return kHandshakeFailureLabels[static_cast<std::size_t>(f)]; }
const char* drop_reason_label(DropReason r) { return kDropReasonLabels[static_cast<std::size_t>(r)]; }

std::string Server::metrics_text() const {
  std::string out;
  out.reserve(4096);
  const Counters& c = counters_;
#define DERP_EMIT_(member, name, type, help)                    \
  family(out, name, type, help);                                \
  out += name;                                                  \
  out += ' ';                                                   \
  out += std::to_string(c.member);                              \
  out += '\n';
  DERP_SERVER_COUNTER_MAP(DERP_EMIT_)
#undef DERP_EMIT_
  family(out, "derp_handshake_failures", "counter", "connections that failed before the DERP handshake finished");
  for (std::size_t i = 0; i < c.handshake_failures.size(); ++i) {
    out += "derp_handshake_failures{reason=\"" + std::string(kHandshakeFailureLabels[i]) + "\"} " +
           std::to_string(c.handshake_failures[i]) + "\n";
  }
  const auto drops = [&](const char* name, const char* help, const auto& table) {
    family(out, name, "counter", help);
    for (std::size_t r = 0; r < table.size(); ++r) {
      for (std::size_t k = 0; k < 2; ++k) {
        out += std::string(name) + "{reason=\"" + kDropReasonLabels[r] + "\",kind=\"" + kKindLabels[k] + "\"} " +
               std::to_string(table[r][k]) + "\n";
      }
    }
  };
  drops("derp_packets_dropped", "packets dropped, by reason and kind", c.packets_dropped);
  drops("derp_bytes_dropped", "packet bytes dropped, by reason and kind", c.bytes_dropped);
  family(out, "derp_pool_free_bytes", "gauge", "output buffer memory kept for reuse");
  out += "derp_pool_free_bytes " + std::to_string(pool_.free_bytes()) + "\n";
  if (options_.extra_metrics) options_.extra_metrics(out);
  return out;
}

}  // namespace derp::server
