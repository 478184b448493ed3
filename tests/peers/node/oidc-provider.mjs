// A real, certified OpenID provider (the npm package oidc-provider) for tern's sign-in tests:
// one confidential client (tern), users with groups, the package's development login and
// consent pages. Listens on 127.0.0.1 on a free port and prints {"issuer": "..."} when ready.
//
// node oidc-provider.mjs --redirect-uri URL --client-secret SECRET [--alg RS256|ES256]
import http from "node:http";
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const alg = args.alg ?? "RS256";
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });

// Whoever signs in names the account on the login page; these have groups.
const USERS = {
  alice: { email: "alice@acme.test", groups: ["devs", "everyone"] },
  bob: { email: "bob@acme.test", groups: ["everyone"] },
};

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: "tern",
        client_secret: args["client-secret"],
        redirect_uris: [args["redirect-uri"]],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: alg,
      },
    ],
    jwks: { keys: [{ ...rsa, kid: "rsa-1", use: "sig", alg: "RS256" }, { ...ec, kid: "ec-1", use: "sig", alg: "ES256" }] },
    cookies: { keys: ["tern-test-cookie-key"] },
    scopes: ["openid", "profile", "email", "groups"],
    claims: { openid: ["sub"], profile: ["preferred_username", "name"], email: ["email", "email_verified"], groups: ["groups"] },
    // Claims of the granted scopes go in the ID token (tern reads only the ID token).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true, methods: ["S256"] },
    async findAccount(_ctx, id) {
      const known = USERS[id] ?? { email: `${id}@example.test`, groups: [] };
      return {
        accountId: id,
        async claims() {
          return { sub: `sub-${id}`, preferred_username: id, name: id, email: known.email, email_verified: true, groups: known.groups };
        },
      };
    },
  });
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider:", err));
  server.on("request", provider.callback());
  console.log(JSON.stringify({ issuer }));
});
