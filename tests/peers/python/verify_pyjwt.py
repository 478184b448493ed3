"""Verify a JWT from stdin the way a Python relying party does, with PyJWT.

discovery -> PyJWKClient(jwks_uri) -> jwt.decode(issuer, audience, required claims).
Usage: python verify_pyjwt.py ISSUER AUDIENCE < token
Prints {"ok": true, "kid": ..., "claims": ...} or {"ok": false, "error": ..., "message": ...} (exit 1).
"""

import json
import sys
import urllib.request

import jwt


def main() -> int:
    issuer, audience = sys.argv[1], sys.argv[2]
    token = sys.stdin.read().strip()
    try:
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as resp:
            discovery = json.load(resp)
        if discovery["issuer"] != issuer:
            raise jwt.InvalidIssuerError(f"discovery names issuer {discovery['issuer']!r}")
        client = jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=False, cache_jwk_set=False)
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256", "ES256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf"]},
        )
    except jwt.PyJWTError as e:
        print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))
        return 1
    print(json.dumps({"ok": True, "kid": key.key_id, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
