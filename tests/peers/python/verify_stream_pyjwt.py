"""Verify JWTs as they arrive, one per stdin line, the way a long-lived Python relying party does:
one PyJWKClient for the whole stream (it caches the JWKS and, with cooldown 0, fetches it again at once when a
token names a kid it does not know), jwt.decode with issuer, audience and required claims.

Usage: python verify_stream_pyjwt.py ISSUER AUDIENCE < tokens
Prints one JSON line per token: {"ok": true, "kid": ...} or {"ok": false, "error": ..., "message": ...}.
"""

import json
import sys
import urllib.request

import jwt


def main() -> int:
    issuer, audience = sys.argv[1], sys.argv[2]
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as resp:
        discovery = json.load(resp)
    client = jwt.PyJWKClient(discovery["jwks_uri"], cache_jwk_set=True, lifespan=3600, cooldown_duration=0)
    for line in sys.stdin:
        token = line.strip()
        if not token:
            continue
        try:
            key = client.get_signing_key_from_jwt(token)
            jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256"],
                audience=audience,
                issuer=issuer,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf"]},
            )
            print(json.dumps({"ok": True, "kid": key.key_id}), flush=True)
        except jwt.PyJWTError as e:
            print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
