// Verify JWTs as they arrive, one per stdin line, the way a long-lived Node relying party does:
// one createRemoteJWKSet for the whole stream with cooldownDuration 0 (an unknown kid fetches the
// JWKS again at once), jwtVerify with issuer, audience and required claims.
// Usage: node verify-stream-jose.mjs ISSUER AUDIENCE < tokens
// Prints one JSON line per token: {"ok":true,"kid":…} or {"ok":false,"code":…,"message":…}.
import { createInterface } from 'node:readline';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [issuer, audience] = process.argv.slice(2);
const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { cooldownDuration: 0, cacheMaxAge: 3600_000 });

for await (const line of createInterface({ input: process.stdin })) {
  const token = line.trim();
  if (!token) continue;
  try {
    const { protectedHeader } = await jwtVerify(token, jwks, {
      issuer,
      audience,
      algorithms: ['RS256', 'ES256'],
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf'],
    });
    console.log(JSON.stringify({ ok: true, kid: protectedHeader.kid }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, code: e.code ?? e.name, message: e.message }));
  }
}
