// Verify a JWT from stdin the way a Node relying party does, with jose:
// discovery -> createRemoteJWKSet(jwks_uri) -> jwtVerify(issuer, audience).
// Usage: node verify-jose.mjs ISSUER AUDIENCE < token
// Prints {"ok":true,"kid":…,"claims":…} or {"ok":false,"code":…,"message":…} (exit 1).
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [issuer, audience] = process.argv.slice(2);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const token = Buffer.concat(chunks).toString('utf8').trim();

try {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  const discovery = await response.json();
  if (discovery.issuer !== issuer) throw Object.assign(new Error(`discovery issuer ${discovery.issuer}`), { code: 'ISSUER' });
  // cooldownDuration 0: re-fetch at once on an unknown kid (rotation tests).
  const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { cooldownDuration: 0 });
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    algorithms: ['RS256', 'ES256'],
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf'],
  });
  console.log(JSON.stringify({ ok: true, kid: protectedHeader.kid, alg: protectedHeader.alg, claims: payload }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e.code ?? e.name, message: e.message }));
  process.exit(1);
}
