// Local identity-provider peer for uni1's tests: an OpenID Connect provider standing in for
// Google, plus GitHub-shaped OAuth 2 endpoints, on one loopback-only HTTP server.
// Built on oidc-provider (panva, OpenID certified), so codes, secrets, redirect URIs and PKCE
// are checked the way a real provider checks them.
//
//   node end2end/peers/oidc.mjs --port PORT --app-base URL [--app-base URL ...]
//
// Binds 127.0.0.1 only (PORT 0 = any free port) and prints one line when ready:
// `ready http://127.0.0.1:<port>` — that URL is the issuer. SIGTERM/SIGINT stop it.
//
// Clients (redirect URIs are B/auth/<name>/callback for every --app-base B):
//   uni1-google / google-test-secret  client_secret_basic, scope "openid email profile",
//     discovery at <issuer>/.well-known/openid-configuration; id_token carries email,
//     email_verified, name and picture (like Google's).
//   uni1-github / github-test-secret  client_secret_post, plain OAuth 2 like GitHub: send
//     scope "read:user user:email" (GitHub's own names, no openid => no id_token; "user:email"
//     alone, "email", or no scope at all also work).
//     Endpoints: authorize <issuer>/auth, token <issuer>/token, then with the access token
//     (`Authorization: Bearer <t>` or `token <t>`): GET <issuer>/github/user and
//     GET <issuer>/github/user/emails. Bad/missing token => 401 {"message":"Bad credentials"}.
//
// Users: anyone; the account id is the email typed (or sent as login_hint). Local part
// starting with "unverified" => email_verified/verified false; starting with "private" =>
// /github/user has email null. Every authorization request goes through /interaction/:uid:
// with login_hint=<email> it signs in and consents at once (no page); without it a form
// (label "Email", button "Sign in") is shown. Signing in as someone else replaces the session.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import Provider, { interactionPolicy } from 'oidc-provider';

console.info = console.error; // oidc-provider prints NOTICEs with console.info; stdout is only for "ready"

const { values: args } = parseArgs({
  options: { port: { type: 'string', default: '0' }, 'app-base': { type: 'string', multiple: true, default: [] } },
});
const bases = args['app-base'].map((b) => b.replace(/\/+$/, ''));
// Everything is set up once the port is known (the issuer URL contains it); until then, 503.
let handle = async (req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => handle(req, res).catch((err) => { // e.g. unknown/expired interaction
  console.error(`oidc peer: ${req.method} ${req.url}: ${err.error_description ?? err.message}`);
  if (!res.headersSent) res.writeHead(err.status ?? 500, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${err.error ?? 'server_error'}: ${err.error_description ?? err.message}\n`);
}));
server.listen(Number(args.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const local = (email) => email.split('@')[0];
  const avatar = (email) => `${issuer}/avatar/${encodeURIComponent(local(email))}.png`;
  const verified = (email) => !local(email).startsWith('unverified');

  // The login prompt always asks (like an account chooser), so login_hint always decides who signs in.
  const policy = interactionPolicy.base();
  policy.get('login').checks.add(new interactionPolicy.Check('uni1_always', 'test peer always asks who signs in',
    (ctx) => (ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT)));

  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'uni1-google', client_secret: 'google-test-secret', token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: bases.map((b) => `${b}/auth/google/callback`) },
      { client_id: 'uni1-github', client_secret: 'github-test-secret', token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: bases.map((b) => `${b}/auth/github/callback`) },
    ],
    // GitHub's scope names are accepted as OIDC-style scopes so a non-openid request still gets an
    // opaque access token (no resource/audience) that AccessToken.find can look up.
    scopes: ['openid', 'email', 'profile', 'read:user', 'user:email'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
    conformIdTokenClaims: false, // put email/name into the id_token, as Google does
    // PKCE: S256 only; required for public clients only (default), always verified when sent.
    features: { devInteractions: { enabled: false }, userinfo: { enabled: true } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}`, policy },
    ttl: { AccessToken: 3600, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 }, // AuthorizationCode: 60 s
    cookies: { keys: ['uni1-oidc-peer-cookie-key-1', 'uni1-oidc-peer-cookie-key-2'] },
    jwks: { keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'uni1-test', use: 'sig', alg: 'RS256' }] },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: id, email_verified: verified(id), name: `Test ${local(id)}`, picture: avatar(id) };
        },
      };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('oidc server_error:', err));
  const oidc = provider.callback();

  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const loginForm = (uid, error = '') => `<!doctype html><html><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><h1>Test identity provider</h1>${error && `<p role="alert">${error}</p>`}
<form method="post" action="/interaction/${uid}/login"><label for="email">Email</label>
<input id="email" name="email" type="email" required autofocus> <button type="submit">Sign in</button></form></body></html>`;

  // Sign `email` in and consent to everything the request asked for, then resume the authorization.
  async function finish(req, res, details, email) {
    if (details.session && details.session.accountId !== email) { // a different user: drop the old session
      await (await provider.Session.findByUid(details.session.uid))?.destroy();
      delete details.session;
      await details.save(details.exp - Math.floor(Date.now() / 1000));
    }
    const { params } = details;
    const grant = new provider.Grant({ accountId: email, clientId: params.client_id });
    if (params.scope) grant.addOIDCScope(params.scope);
    if (params.claims) {
      const { id_token: idt = {}, userinfo = {} } = JSON.parse(params.claims);
      grant.addOIDCClaims([...Object.keys(idt), ...Object.keys(userinfo)]);
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: email }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }

  async function githubAccount(req) {
    const m = /^(?:bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const at = m && await provider.AccessToken.find(m[1]);
    return at?.accountId;
  }

  handle = async (req, res) => {
    const url = new URL(req.url, issuer);
    let m;
    // GitHub treats a missing scope as read-only public access; oidc-provider refuses a grant with no scope.
    if (url.pathname === '/auth' && url.searchParams.get('client_id') === 'uni1-github' && !url.searchParams.get('scope')) {
      url.searchParams.set('scope', 'read:user');
      req.url = url.pathname + url.search;
    }
    if (req.method === 'GET' && (m = /^\/interaction\/([\w-]+)$/.exec(url.pathname))) {
      const details = await provider.interactionDetails(req, res);
      const hint = details.params.login_hint;
      if (hint) return finish(req, res, details, hint);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(loginForm(m[1]));
    }
    if (req.method === 'POST' && (m = /^\/interaction\/([\w-]+)\/login$/.exec(url.pathname))) {
      const details = await provider.interactionDetails(req, res);
      let body = '';
      for await (const chunk of req) body += chunk;
      const email = new URLSearchParams(body).get('email')?.trim() ?? '';
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
        res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
        return res.end(loginForm(m[1], 'Enter an email address.'));
      }
      return finish(req, res, details, email);
    }
    if (req.method === 'GET' && (url.pathname === '/github/user' || url.pathname === '/github/user/emails')) {
      const email = await githubAccount(req);
      if (!email) return json(res, 401, { message: 'Bad credentials' });
      if (url.pathname === '/github/user/emails') {
        return json(res, 200, [{ email, primary: true, verified: verified(email), visibility: 'public' }]);
      }
      const id = (createHash('sha256').update(email).digest().readUInt32BE(0) % 2147483646) + 1;
      const login = local(email);
      return json(res, 200, { id, login, name: `Test ${login}`, email: login.startsWith('private') ? null : email, avatar_url: avatar(email) });
    }
    if (req.method === 'GET' && url.pathname === '/favicon.ico') { // browsers ask; a 404 would be a console error
      res.writeHead(204); return res.end();
    }
    if (req.method === 'GET' && url.pathname.startsWith('/avatar/')) { // a 1x1 PNG for any avatar URL
      res.writeHead(200, { 'content-type': 'image/png' });
      return res.end(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'));
    }
    return oidc(req, res);
  };
  console.log(`ready ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
