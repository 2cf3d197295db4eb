#!/usr/bin/env python3
"""A two-peer chat relayed through a DERP server.

    relay_chat.py --demo
        starts a local derp.Server and two clients, alice and bob, who chat a few lines through it.
    relay_chat.py --server URL --key-file me.json --peer nodekey:<hex>
        chats with one peer: lines you type go to the peer, lines the peer sends are printed. Run it twice with
        two key files (each prints its own nodekey at start) to talk between two terminals or machines.
"""
import argparse
import sys
import threading

import derp


def demo() -> int:
    alice_key, bob_key = derp.Key.generate(), derp.Key.generate()
    with derp.Server(address="127.0.0.1:0") as server:
        print(f"server: {server.url} (STUN on {server.stun_address[0]}:{server.stun_address[1]})")
        print(f"alice's public address as STUN sees it: {derp.stun_probe(*server.stun_address)}")
        with derp.Client(server.url, alice_key) as alice, derp.Client(server.url, bob_key) as bob:
            print(f"alice is {alice.public}\nbob   is {bob.public}")
            script = [(alice, bob, "hi bob, it's alice"), (bob, alice, "hello alice!"),
                      (alice, bob, "this line crossed the relay as plain bytes")]
            for sender, receiver, text in script:
                sender.send(receiver.public, text.encode())
                src, data = receiver.recv(timeout=5)
                name = "alice" if src == alice.public else "bob"
                print(f"{name} says: {data.decode()}")
            print(f"alice's ping to the server: {alice.ping() * 1000:.3f} ms")
            # Said once, because a chat demo invites the question: nothing here is secret.
            print("note: the demo server speaks plain HTTP (no TLS), and DERP does not encrypt what it relays: the "
                  "server, and anyone on the path, can read every line. Tailscale encrypts its packets (WireGuard) "
                  "before handing them to DERP; do the same with your own payloads, and use an https:// server.")
    return 0


def chat(url: str, key_file: str, peer_text: str, insecure: bool) -> int:
    key = derp.Key.load_or_create(key_file)
    peer = derp.PublicKey.from_text(peer_text)
    print(f"I am {key.public}; chatting with {peer} via {url}. Type lines; Ctrl-D ends.", file=sys.stderr)
    with derp.Client(url, key, insecure=insecure) as client:
        def show() -> None:
            for event in client.events():
                if event.type == derp.EventType.PACKET and event.key == peer:
                    print(f"< {event.data.decode(errors='replace')}", flush=True)
                elif event.type == derp.EventType.DISCONNECTED:
                    print(f"(disconnected: {event.detail}; retrying)", file=sys.stderr)
                elif event.type == derp.EventType.CONNECTED:
                    print("(connected)", file=sys.stderr)
        threading.Thread(target=show, daemon=True).start()
        for line in sys.stdin:
            try:
                client.send(peer, line.rstrip("\n").encode())
            except derp.DerpError as exc:
                print(f"(not sent: {exc})", file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--server")
    parser.add_argument("--key-file")
    parser.add_argument("--peer")
    parser.add_argument("--insecure", action="store_true")
    args = parser.parse_args()
    if args.demo:
        return demo()
    if not (args.server and args.key_file and args.peer):
        parser.error("give --demo, or --server, --key-file and --peer")
    return chat(args.server, args.key_file, args.peer, args.insecure)


if __name__ == "__main__":
    sys.exit(main())
