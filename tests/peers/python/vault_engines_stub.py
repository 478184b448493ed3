"""A stand-in for Vault's AWS, GCP and Azure secrets engines in front of a real OpenBao (which
ships none of them). Requests under /v1/auth/ and /v1/sys/ go to OpenBao unchanged, except lease
revocations of the stub's own leases; engine requests are answered here from the documented
response shapes, after OpenBao confirms the X-Vault-Token is a live token.

  GET  /v1/<mount>/creds/<role>                  AWS iam_user, Azure
  POST /v1/<mount>/sts/<role>                    AWS assumed_role / federation_token
  GET  /v1/<mount>/roleset/<name>/token|key      GCP
  GET  /v1/<mount>/static-account/<name>/token|key
  PUT  /v1/sys/leases/revoke                     records the revocation of a stub lease
  GET  /records

Usage: vault_engines_stub.py --bao URL ; prints {"port": N} when ready.
"""

import argparse
import base64
import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORDS = []
LEASES = set()
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(length) if length else b""

    def forward(self, method, raw):
        request = urllib.request.Request(ARGS.bao + self.path, data=raw or None, method=method)
        for header in ("X-Vault-Token", "X-Vault-Namespace", "Content-Type", "X-Vault-Request"):
            if self.headers.get(header):
                request.add_header(header, self.headers[header])
        try:
            with urllib.request.urlopen(request) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def token_ok(self):
        request = urllib.request.Request(ARGS.bao + "/v1/auth/token/lookup-self",
                                         headers={"X-Vault-Token": self.headers.get("X-Vault-Token", "")})
        try:
            with urllib.request.urlopen(request):
                return True
        except urllib.error.HTTPError:
            return False

    def handle_any(self, method):
        raw = self.body()
        path = self.path.split("?")[0]
        if path == "/records":
            with LOCK:
                return self.reply(200, RECORDS)
        if path == "/v1/sys/leases/revoke":
            lease = json.loads(raw or b"{}").get("lease_id", "")
            if lease in LEASES:
                with LOCK:
                    RECORDS.append({"kind": "revoke", "lease_id": lease})
                return self.reply(204, {})
        if path.startswith("/v1/auth/") or path.startswith("/v1/sys/"):
            return self.forward(method, raw)
        if not self.token_ok():
            return self.reply(403, {"errors": ["permission denied"]})
        parts = path.split("/")[2:]  # mount, kind, name, [what]
        mount, kind = parts[0], parts[1]
        lease = f"{mount}/{kind}/{parts[2]}/stub-lease-{len(RECORDS)}"
        body = json.loads(raw or b"{}") if raw else {}
        with LOCK:
            RECORDS.append({"kind": "read", "method": method, "path": path, "body": body})
        if kind == "creds" and mount.startswith("azure"):
            data = {"client_id": "11111111-2222-3333-4444-555555555555", "client_secret": "azure-stub-secret"}
        elif kind in ("creds", "sts"):
            data = {"access_key": "AKIASTUBVAULT", "secret_key": "aws-stub-secret",
                    "security_token": "aws-stub-session" if kind == "sts" else None}
        elif parts[-1] == "token":
            data = {"token": "gcp-stub-access-token", "expires_at_seconds": 4102444800, "token_ttl": 3599}
            lease = ""
        else:
            key = json.dumps({"type": "service_account", "project_id": "stub", "private_key_id": "stub"})
            data = {"private_key_data": base64.b64encode(key.encode()).decode(), "key_type": "TYPE_GOOGLE_CREDENTIALS_FILE"}
        if lease:
            LEASES.add(lease)
        return self.reply(200, {"lease_id": lease, "lease_duration": 3600, "renewable": bool(lease), "data": data})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--bao", required=True)
    ARGS = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
