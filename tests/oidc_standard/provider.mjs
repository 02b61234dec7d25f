// panva's oidc-provider (a certified OpenID Connect implementation) in its default,
// conformant set-up: conformIdTokenClaims stays true, so email, email_verified and groups
// come from the UserInfo endpoint, not in the ID token. Its own development login and
// consent pages (devInteractions) are what the browser fills in.
//
// Settings come as one JSON argument: {port, clientId, clientSecret, redirectUri,
// postLogoutRedirectUri, accounts: {login: {name, email, email_verified, groups}}}.
// Prints "ready <issuer>" once it listens on 127.0.0.1. The package is found in
// OIDC_PROVIDER_DIR (installed by `make oidc-provider`; ES modules ignore NODE_PATH).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const packageDir = join(process.env.OIDC_PROVIDER_DIR, 'node_modules', 'oidc-provider', 'lib', 'index.js');
const { default: Provider } = await import(pathToFileURL(packageDir).href);

const settings = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${settings.port}`;

const configuration = {
  clients: [{
    client_id: settings.clientId,
    client_secret: settings.clientSecret,
    redirect_uris: [settings.redirectUri],
    post_logout_redirect_uris: [settings.postLogoutRedirectUri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  cookies: { keys: ['careloop-test-provider-cookie-key'] },
  async findAccount(ctx, id) {
    const account = settings.accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
};

const provider = new Provider(issuer, configuration);
provider.listen(settings.port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
