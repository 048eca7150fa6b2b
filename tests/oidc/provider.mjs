// A standards-compliant OpenID provider (npm oidc-provider) on 127.0.0.1, for the sign-in
// tests: discovery, JWKS, authorization code with PKCE for one public client, and the
// package's development login page (any login, any password; the login is the account's
// email). Run from the folder whose node_modules holds oidc-provider.
//
// Settings: OIDC_PORT, OIDC_KEYS (a file holding a JSON array of private JWKs; the first
// signs), OIDC_CLIENT_ID, OIDC_REDIRECT_URIS (space-separated).
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const keys = JSON.parse(readFileSync(process.env.OIDC_KEYS, 'utf8'));
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID,
    token_endpoint_auth_method: 'none',
    redirect_uris: process.env.OIDC_REDIRECT_URIS.split(' '),
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // The ID token carries the email (the claim Vigil reads), not only userinfo.
  conformIdTokenClaims: false,
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, email: sub, email_verified: true }),
  }),
  cookies: { keys: ['vigil-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  // The console's origin may call the token endpoint (the default, stated).
  clientBasedCORS: (ctx, origin, client) =>
    client.redirectUris.some((uri) => new URL(uri).origin === origin),
});
provider.listen(port, '127.0.0.1', () => console.log(`ready on ${port}`));
