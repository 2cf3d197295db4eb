// Compiled as lib/netcheck: it may use derpmap, stun, crypto and common, not the DERP client.
#include "client/connection.hpp"
