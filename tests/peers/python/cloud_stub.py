"""Stand-ins for the cloud token endpoints that tern's tokens are exchanged at.

They verify every token they receive against the issuer's JWKS with PyJWT and zero leeway
(so an expired token is caught at the moment it is sent), record what they saw, and answer the
way the real services do, so that boto3, google-auth and azure-identity complete their flows:

  AWS STS        POST /  Action=AssumeRoleWithWebIdentity            (http)
  Google STS     POST /v1/token                                      (http)
  Google IAM     POST /v1/projects/-/serviceAccounts/<sa>:generateAccessToken (http)
  Entra ID       POST /<tenant>/oauth2/v2.0/token  client_assertion  (https: azure-identity requires it)
  records        GET /records

Usage: cloud_stub.py --issuer URL --cert PEM --key PEM [--aws-audience A] [--gcp-audience A]
Prints one JSON line {"http": port, "https": port} when ready.
"""

import argparse
import datetime
import json
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

RECORDS = []
LOCK = threading.Lock()


def verify(token, audience):
    """Verify like a cloud: signature from JWKS, issuer, audience, times with no leeway."""
    try:
        key = CLIENT.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256", "ES256"],
            audience=audience,
            issuer=ARGS.issuer,
            leeway=0,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf"]},
        )
        return True, None, claims
    except Exception as e:  # noqa: BLE001 - the record says what went wrong
        return False, f"{type(e).__name__}: {e}", None


def record(**entry):
    entry["time"] = time.time()
    with LOCK:
        RECORDS.append(entry)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(raw or "{}")
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

    def do_GET(self):
        if self.path == "/records":
            with LOCK:
                return self.reply(200, json.dumps(RECORDS))
        return self.reply(404, "{}")

    def do_POST(self):
        form = self.form()
        path = self.path.split("?")[0]
        if form.get("Action") == "AssumeRoleWithWebIdentity":
            return self.aws(form)
        if path == "/v1/token":
            return self.gcp_sts(form)
        if path.endswith(":generateAccessToken"):
            return self.gcp_iam(path)
        if path.endswith("/oauth2/v2.0/token"):
            return self.azure(path, form)
        return self.reply(404, json.dumps({"error": f"no stub for POST {path}"}))

    def aws(self, form):
        ok, error, claims = verify(form.get("WebIdentityToken", ""), ARGS.aws_audience)
        record(kind="aws", valid=ok, error=error, sub=(claims or {}).get("sub"),
               role_arn=form.get("RoleArn"), session_name=form.get("RoleSessionName"))
        if not ok:
            body = ("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                    f"<Message>{error}</Message></Error></ErrorResponse>")
            return self.reply(400, body, "text/xml")
        expiration = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = f"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials><AccessKeyId>ASIASTUBSTUBSTUB</AccessKeyId><SecretAccessKey>stub-secret</SecretAccessKey>
      <SessionToken>stub-session</SessionToken><Expiration>{expiration}</Expiration></Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/stub/{form.get("RoleSessionName")}</Arn>
      <AssumedRoleId>AROASTUB:{form.get("RoleSessionName")}</AssumedRoleId></AssumedRoleUser>
    <SubjectFromWebIdentityToken>{claims["sub"]}</SubjectFromWebIdentityToken>
    <Audience>{ARGS.aws_audience}</Audience><Provider>{ARGS.issuer}</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"""
        return self.reply(200, body, "text/xml")

    def gcp_sts(self, form):
        ok, error, claims = verify(form.get("subject_token", ""), ARGS.gcp_audience)
        record(kind="gcp-sts", valid=ok, error=error, sub=(claims or {}).get("sub"),
               audience_field=form.get("audience"), subject_token_type=form.get("subject_token_type"))
        if not ok:
            return self.reply(400, json.dumps({"error": "invalid_grant", "error_description": error}))
        return self.reply(200, json.dumps({
            "access_token": "gcp-federated-token", "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer", "expires_in": 3600}))

    def gcp_iam(self, path):
        authorized = self.headers.get("Authorization") == "Bearer gcp-federated-token"
        email = urllib.parse.unquote(path.split("/serviceAccounts/")[1].split(":")[0])
        record(kind="gcp-iam", valid=authorized, service_account=email)
        if not authorized:
            return self.reply(401, json.dumps({"error": {"message": "not the federated token"}}))
        expire = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.reply(200, json.dumps({"accessToken": "gcp-service-account-token", "expireTime": expire}))

    def azure(self, path, form):
        ok, error, claims = verify(form.get("client_assertion", ""), "api://AzureADTokenExchange")
        record(kind="azure", valid=ok, error=error, sub=(claims or {}).get("sub"), client_id=form.get("client_id"),
               tenant=path.strip("/").split("/")[0], assertion_type=form.get("client_assertion_type"))
        if not ok:
            return self.reply(400, json.dumps({"error": "invalid_client", "error_description": f"AADSTS700024: {error}"}))
        return self.reply(200, json.dumps({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                                           "access_token": "azure-access-token"}))


def main():
    global ARGS, CLIENT
    parser = argparse.ArgumentParser()
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--aws-audience", default="aws.workload.identity")
    parser.add_argument("--gcp-audience", default="")
    ARGS = parser.parse_args()
    with urllib.request.urlopen(f"{ARGS.issuer}/.well-known/openid-configuration") as r:
        jwks_uri = json.load(r)["jwks_uri"]
    CLIENT = jwt.PyJWKClient(jwks_uri)

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    https = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ARGS.cert, ARGS.key)
    https.socket = context.wrap_socket(https.socket, server_side=True)
    for server in (http, https):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"http": http.server_address[1], "https": https.server_address[1]}), flush=True)
    sys.stdin.read()  # run until the test closes our stdin


if __name__ == "__main__":
    import urllib.request  # noqa: E402
    main()
