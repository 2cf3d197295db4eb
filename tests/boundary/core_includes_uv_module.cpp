// Compiled as lib/client: the client core may not include the libuv driver's headers.
#include "uv/uv_client.hpp"
