#include "stun/request.hpp"

#include "stun/builder.hpp"

namespace derp::stun {

int build_request(const TransactionId& transaction_id, const RequestOptions& options, MutableBytes out,
                  std::size_t* length) {
  Builder b(out);
  b.begin(kBindingRequest, transaction_id);
  if (!options.software.empty()) b.add_software(options.software);
  if (!options.username.empty()) b.add_username(options.username);
  if (!options.realm.empty()) b.add_realm(options.realm);
  if (!options.nonce.empty()) b.add_nonce(options.nonce);
  if (options.integrity_key) b.add_message_integrity(*options.integrity_key);
  if (options.fingerprint) b.add_fingerprint();
  return b.finish(length);
}

}  // namespace derp::stun
