#!/usr/bin/env python3
"""loginnode: a web app that is not a sim-node (no X-Farm-* headers) and keeps its users'
logins in in-process session state under a cookie of its own, as many ASP.NET apps do with
InProc session state.

  loginnode.py --name NAME --cookie COOKIE

Listens on 127.0.0.1:0 and prints "loginnode event=ready name=NAME listen=127.0.0.1:PORT".

  /login?user=U  a new session for U: 200 and Set-Cookie: COOKIE=<random id>
  /health        200
  anything else  200 when the request carries a COOKIE this process issued; otherwise
                 302 Location: /login?ReturnUrl=<path> (another node's session is unknown here)
"""
import http.server
import secrets
import sys
import urllib.parse


def main():
    args = sys.argv[1:]
    name = args[args.index("--name") + 1]
    cookie = args[args.index("--cookie") + 1]
    sessions = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, status, body, headers=()):
            data = body.encode()
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/health":
                return self.answer(200, "ok\n")
            if url.path == "/login":
                user = urllib.parse.parse_qs(url.query).get("user", ["anonymous"])[0]
                sid = secrets.token_hex(12)
                sessions[sid] = user
                return self.answer(200, "hello %s from %s\n" % (user, name),
                                   [("Set-Cookie", "%s=%s; path=/; HttpOnly" % (cookie, sid))])
            sid = None
            for part in self.headers.get("Cookie", "").split(";"):
                k, _, v = part.strip().partition("=")
                if k == cookie:
                    sid = v
            if sid in sessions:
                return self.answer(200, "%s on %s\n" % (sessions[sid], name))
            target = "/login?ReturnUrl=" + urllib.parse.quote(url.path, safe="/")
            return self.answer(302, "", [("Location", target)])

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("loginnode event=ready name=%s listen=127.0.0.1:%d" % (name, srv.server_address[1]),
          flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
