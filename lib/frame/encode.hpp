// Frame encoders, one per frame type: each writes the whole frame (header and payload) into a caller buffer,
// byte for byte what Tailscale's current code writes for the same values. Input the protocol does not allow is
// refused rather than sent: DERP_ERR_FRAME_TOO_LARGE (a packet over 65536 bytes, a Ping over 1000, anything over a
// default reader's limit), DERP_ERR_FRAME_SIZE (a box shorter than its tag, Ping/Pong data shorter than 8, trailing
// bytes the chosen form cannot carry), DERP_ERR_INVALID_ARGUMENT (a field set that the chosen form omits).
// *written gets the frame's length on success and on DERP_ERR_BUFFER_TOO_SMALL, so an empty buffer asks the size.
#pragma once

#include <cstddef>

#include "common/bytes.hpp"
#include "frame/messages.hpp"

namespace derp::frame {

int encode(const ServerKeyFrame& msg, MutableBytes out, std::size_t* written);
int encode(const ClientInfoFrame& msg, MutableBytes out, std::size_t* written);
int encode(const ServerInfoFrame& msg, MutableBytes out, std::size_t* written);
int encode(const SendPacketFrame& msg, MutableBytes out, std::size_t* written);
int encode(const RecvPacketFrame& msg, MutableBytes out, std::size_t* written);
int encode(const KeepAliveFrame& msg, MutableBytes out, std::size_t* written);
int encode(const NotePreferredFrame& msg, MutableBytes out, std::size_t* written);
int encode(const PeerGoneFrame& msg, MutableBytes out, std::size_t* written);
int encode(const PeerPresentFrame& msg, MutableBytes out, std::size_t* written);
int encode(const ForwardPacketFrame& msg, MutableBytes out, std::size_t* written);
int encode(const WatchConnsFrame& msg, MutableBytes out, std::size_t* written);
int encode(const ClosePeerFrame& msg, MutableBytes out, std::size_t* written);
int encode(const PingFrame& msg, MutableBytes out, std::size_t* written);
int encode(const PongFrame& msg, MutableBytes out, std::size_t* written);
int encode(const HealthFrame& msg, MutableBytes out, std::size_t* written);
int encode(const RestartingFrame& msg, MutableBytes out, std::size_t* written);

}  // namespace derp::frame
