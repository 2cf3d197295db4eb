"""Records real TLS ClientHellos as seeds for fuzz_tls_server (issue 15): openssl s_client offering TLS 1.2 with
each cipher suite our server offers (lib/tls/tls_policy.cpp), openssl's default hello, and Python's ssl module.
A local listener keeps the first record each client sends and hangs up. Not run by the tests; run by hand:

    /usr/bin/python3 tests/fuzz/capture_client_hellos.py tests/fuzz/seeds/tls_server
"""
import socket, subprocess, threading, ssl, sys, os
out = sys.argv[1]
def listen():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4); return s
def read_hello(srv, result):
    c, _ = srv.accept(); c.settimeout(5)
    data = b""
    try:
        while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
            chunk = c.recv(65536)
            if not chunk: break
            data += chunk
    finally:
        c.close()
    result.append(data)
suites = ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-AES256-GCM-SHA384",
          "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"]
for suite in suites:
    srv = listen(); port = srv.getsockname()[1]; res = []
    t = threading.Thread(target=read_hello, args=(srv, res)); t.start()
    subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", "-cipher", suite,
                    "-servername", "derp.fuzz.example", "-alpn", "http/1.1"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    t.join(); srv.close()
    open(os.path.join(out, "openssl_tls12_" + suite.lower().replace("-", "_")), "wb").write(res[0])
# openssl's default hello (TLS 1.3 capable, offers 1.2 too) and Python's ssl module
for name, fn in [("openssl_default", None), ("python_ssl", "py")]:
    srv = listen(); port = srv.getsockname()[1]; res = []
    t = threading.Thread(target=read_hello, args=(srv, res)); t.start()
    if fn is None:
        subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "derp.fuzz.example"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    else:
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="derp.fuzz.example"): pass
        except Exception:
            pass
    t.join(); srv.close()
    open(os.path.join(out, name), "wb").write(res[0])
