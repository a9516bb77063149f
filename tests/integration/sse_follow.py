#!/usr/bin/env python3
"""sse_follow: follow lb's GET /events?follow=1 and check that no event is lost silently.

  sse_follow.py HOST:PORT --until ID [--last-event-id N] [--rcvbuf BYTES] [--pause]

Sends the request (with Last-Event-ID: N when given), waits for the answer's head, prints
"sse event=ready" and, with --pause, reads nothing more until a line arrives on stdin: a
follower that stops reading. Then it reads events until one with an id >= ID has arrived
(or 20 s pass without a byte) and prints, one per line:

  head_cache_control=N  Cache-Control lines in the answer's head
  first=ID              the id of the first event (0: none)
  first_kind=KIND       its event type
  last=ID               the id of the last event
  last_kind=KIND        its event type
  count=N               events other than gaps
  gaps=F-L,...          announced gaps (event: gap, data {"first":F,"last":L})
  silent=F-L,...        ids that neither arrived nor were announced as lost
  bad=N                 events whose data is not JSON or whose seq differs from the id

Ids must follow one another: the first comes right after N when --last-event-id is given
(else it may be any id); after that each event's id is the previous one + 1, and a gap
event must start right after the previous id and the next event must follow its last.
"""
import json
import socket
import sys


def main():
    args = sys.argv[1:]
    host, port = args[0].rsplit(":", 1)
    until, lei, rcvbuf, pause = None, None, 0, False
    i = 1
    while i < len(args):
        if args[i] == "--until":
            until = int(args[i + 1])
            i += 2
        elif args[i] == "--last-event-id":
            lei = args[i + 1]
            i += 2
        elif args[i] == "--rcvbuf":
            rcvbuf = int(args[i + 1])
            i += 2
        elif args[i] == "--pause":
            pause = True
            i += 1
        else:
            raise SystemExit("usage: sse_follow.py HOST:PORT --until ID [...]")

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(20)
    s.connect((host, int(port)))
    req = "GET /events?follow=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
    if lei is not None:
        req += "Last-Event-ID: %s\r\n" % lei
    s.sendall((req + "\r\n").encode())

    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("sse_follow: the server closed before the head")
        data += chunk
    head, data = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    cache_control = sum(1 for l in lines if l.lower().startswith("cache-control:"))
    print("sse event=ready", flush=True)
    if pause:
        sys.stdin.readline()

    expect = int(lei) + 1 if lei is not None and lei.isdigit() else None
    first, first_kind, last, last_kind, count, bad = 0, "", 0, "", 0, 0
    gaps, silent = [], []
    ev = {}
    done = False
    buf = data
    while not done:
        while b"\n" not in buf:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                chunk = b""
            if not chunk:
                done = True
                break
            buf += chunk
        if done:
            break
        line, buf = buf.split(b"\n", 1)
        line = line.decode("utf-8", "replace").rstrip("\r")
        if line.startswith(":"):
            continue
        if line != "":
            name, _, value = line.partition(":")
            ev[name] = value[1:] if value.startswith(" ") else value
            continue
        if "data" not in ev:
            ev = {}
            continue
        kind = ev.get("event", "message")
        try:
            d = json.loads(ev["data"])
        except ValueError:
            d = None
            bad += 1
        eid = int(ev["id"]) if ev.get("id", "").isdigit() else None
        ev = {}
        if kind == "gap":
            if d is None:
                continue
            f, l = d.get("first"), d.get("last")
            if expect is not None and f != expect:
                silent.append("%d-%d" % (expect, f - 1))
            gaps.append("%d-%d" % (f, l))
            if not first:
                first, first_kind = f, "gap"
            expect = l + 1
            continue
        if eid is None:
            bad += 1
            continue
        if d is not None and d.get("seq") != eid:
            bad += 1
        if expect is not None and eid != expect:
            silent.append("%d-%d" % (expect, eid - 1))
        if not first:
            first, first_kind = eid, kind
        last, last_kind, count, expect = eid, kind, count + 1, eid + 1
        if until is not None and eid >= until:
            done = True

    print("head_cache_control=%d" % cache_control)
    print("first=%d" % first)
    print("first_kind=%s" % first_kind)
    print("last=%d" % last)
    print("last_kind=%s" % last_kind)
    print("count=%d" % count)
    print("gaps=%s" % ",".join(gaps))
    print("silent=%s" % ",".join(silent))
    print("bad=%d" % bad)
    s.close()


if __name__ == "__main__":
    sys.exit(main())
