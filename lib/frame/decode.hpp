// Payload decoders, one per frame type. Each checks the protocol's size rules for its type (reference §2.2, and
// Tailscale's derp_client.go / derpserver.go readers where they are more precise) and returns DERP_OK,
// DERP_ERR_FRAME_SIZE (too short or a length the layout does not allow), DERP_ERR_FRAME_TOO_LARGE (over the type's
// limit, see limits.hpp) or DERP_ERR_FRAME_BAD_MAGIC. *out is written only on success and views into payload.
#pragma once

#include "common/bytes.hpp"
#include "frame/messages.hpp"

namespace derp::frame {

int decode(Bytes payload, ServerKeyFrame* out);
int decode(Bytes payload, ClientInfoFrame* out);
int decode(Bytes payload, ServerInfoFrame* out);
int decode(Bytes payload, SendPacketFrame* out);
int decode(Bytes payload, RecvPacketFrame* out);
int decode(Bytes payload, KeepAliveFrame* out);
int decode(Bytes payload, NotePreferredFrame* out);
int decode(Bytes payload, PeerGoneFrame* out);
int decode(Bytes payload, PeerPresentFrame* out);
int decode(Bytes payload, ForwardPacketFrame* out);
int decode(Bytes payload, WatchConnsFrame* out);
int decode(Bytes payload, ClosePeerFrame* out);
int decode(Bytes payload, PingFrame* out);
int decode(Bytes payload, PongFrame* out);
int decode(Bytes payload, HealthFrame* out);
int decode(Bytes payload, RestartingFrame* out);

}  // namespace derp::frame
