// Compiled as lib/server: the protocol cores draw randomness through crypto::RandomSource, never from libsodium.
#include <sodium.h>
