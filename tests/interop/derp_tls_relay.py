#!/usr/bin/python3
"""Two DERP clients over Python's ssl module (OpenSSL), pinned to one TLS 1.2 cipher, relay packets through a
libderp server: the HTTP upgrade, ServerKey, ClientInfo sealed with a NaCl box (libsodium via ctypes), ServerInfo,
then SendPacket -> RecvPacket both ways (1200 B and 64 KiB). Used by tests/unit/test_uv_tls_interop.cpp.

usage: derp_tls_relay.py PORT OPENSSL_CIPHER     exit 0 when every packet arrived intact, 1 otherwise
"""
import ctypes
import ctypes.util
import json
import os
import socket
import ssl
import struct
import sys

sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert sodium.sodium_init() >= 0

MAGIC = b"DERP\xf0\x9f\x94\x91"  # "DERP🔑", the ServerKey frame's magic (derp.go)
SERVER_KEY, CLIENT_INFO, SERVER_INFO, SEND_PACKET, RECV_PACKET = 1, 2, 3, 4, 5


def box_seal(message, nonce, their_public, my_secret):
    out = ctypes.create_string_buffer(len(message) + 16)
    if sodium.crypto_box_easy(out, message, ctypes.c_ulonglong(len(message)), nonce, their_public, my_secret) != 0:
        raise RuntimeError("crypto_box_easy failed")
    return out.raw


class Client:
    def __init__(self, port, cipher):
        self.public = ctypes.create_string_buffer(32)
        self.secret = ctypes.create_string_buffer(32)
        sodium.crypto_box_keypair(self.public, self.secret)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(cipher)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a throw-away self-signed certificate
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.tls = context.wrap_socket(raw)
        self.cipher = self.tls.cipher()[0]
        self.buffer = b""

    def read_exactly(self, n):
        while len(self.buffer) < n:
            chunk = self.tls.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def frame(self):
        kind, length = struct.unpack(">BI", self.read_exactly(5))
        return kind, self.read_exactly(length)

    def send_frame(self, kind, payload):
        self.tls.sendall(struct.pack(">BI", kind, len(payload)) + payload)

    def handshake(self):
        self.tls.sendall(b"GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.read_exactly(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        kind, payload = self.frame()
        assert kind == SERVER_KEY and payload[:8] == MAGIC, (kind, payload[:8])
        self.server_key = payload[8:40]
        nonce = os.urandom(24)
        info = json.dumps({"version": 2}).encode()
        self.send_frame(CLIENT_INFO, self.public.raw + nonce + box_seal(info, nonce, self.server_key, self.secret))
        while True:
            kind, payload = self.frame()
            if kind == SERVER_INFO:
                return

    def receive_packet(self):
        while True:
            kind, payload = self.frame()
            if kind == RECV_PACKET:
                return payload[:32], payload[32:]


def main():
    port, cipher = int(sys.argv[1]), sys.argv[2]
    a, b = Client(port, cipher), Client(port, cipher)
    a.handshake()
    b.handshake()
    ok = True
    for sender, receiver, size in ((a, b, 1200), (b, a, 65536), (a, b, 300)):
        packet = os.urandom(size)
        sender.send_frame(SEND_PACKET, receiver.public.raw + packet)
        source, got = receiver.receive_packet()
        ok = ok and source == sender.public.raw and got == packet
    print("cipher %s: %s" % (a.cipher, "relayed" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
