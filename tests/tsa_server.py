#!/usr/bin/env python3
"""A real RFC 3161 TSA for the tests: `openssl ts -reply` behind a small HTTP server.

Usage: tsa_server.py PORT OPENSSL_CONFIG WORKDIR. Prints "ready" once listening; answers each
POST of a TimeStampReq with the DER TimeStampResp OpenSSL makes; exits on SIGTERM.
"""
import http.server
import os
import subprocess
import sys
import tempfile

port, config, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with tempfile.TemporaryDirectory(dir=work) as d:
            q, r = os.path.join(d, "q.tsq"), os.path.join(d, "r.tsr")
            with open(q, "wb") as f:
                f.write(body)
            p = subprocess.run(
                ["openssl", "ts", "-reply", "-config", config, "-queryfile", q, "-out", r],
                cwd=work, capture_output=True)
            if p.returncode != 0:
                self.send_response(500)
                self.end_headers()
                self.wfile.write(p.stderr)
                return
            with open(r, "rb") as f:
                resp = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print("ready", flush=True)
server.serve_forever()
