#!/usr/bin/env python3
"""rawnode: an HTTP node that misbehaves on demand, for lb's protocol tests.

Listens on 127.0.0.1:0, prints "rawnode event=ready listen=127.0.0.1:PORT", then answers
every request on a keep-alive connection according to its path:

  /304      304 with a Content-Length and no body (as RFC 9110 allows)
  /204      204 with a Content-Length and no body
  /big      a 200 whose head and 20,000-byte body leave in one write
  /stray    a 200 "ok", then bytes that belong to no answer
  /cut      a 200 announcing 1,000 bytes, 10 of them, then the close
  /500close a 500 with Connection: close, then the close
  /101      a 101 Switching Protocols, a WebSocket frame, then the close (whatever was asked)
  /stale    a 200 "ok" after 0.2 s (so that concurrent requests need connections of their
            own), and the connection then closes at its next request without answering:
            a kept-alive connection that turns out closed, as after a node restart
  /head     the request head it received, as the body (what lb forwarded)
  anything else: 200 "ok"
"""
import socket
import sys
import threading
import time


def answer(path, head):
    if path == "/304":
        return b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", False
    if path == "/204":
        return b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", False
    if path == "/big":
        body = b"b" * 20000
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body), False
    if path == "/stray":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSTRAY BYTES", False
    if path == "/101":
        return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n\x81\x05hello"), True
    if path == "/500close":
        return b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", True
    if path == "/cut":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", True
    if path == "/head":
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(head), head), False
    return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False


def serve(conn):
    data = b""
    stale = False
    with conn:
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            head += b"\r\n\r\n"
            parts = head.split(b" ", 2)
            path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
            if stale:
                return
            if path == "/stale":
                stale = True
                time.sleep(0.2)
            out, close = answer(path, head)
            conn.sendall(out)
            if close:
                return


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print("rawnode event=ready listen=127.0.0.1:%d" % srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
