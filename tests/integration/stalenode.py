#!/usr/bin/env python3
"""stalenode: a node whose kept-alive connections all turn out closed: it answers the first request on
each connection (after 0.2 s, so that concurrent requests need connections of their own)
and closes a connection on its second request without answering, as a node that restarted
or timed out its idle connections would look to lb."""
import socket, sys, threading, time

def serve(conn):
    with conn:
        data = b""
        n = 0
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            n += 1
            if n > 1:
                return  # the kept-alive connection "turns out closed"
            time.sleep(0.2)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
print("stalenode event=ready listen=127.0.0.1:%d" % s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
