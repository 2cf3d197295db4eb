// Compiled as lib/stun: only lib/tls sees mbedTLS (STUN hashes through tls/digest.hpp).
#include <mbedtls/md.h>
