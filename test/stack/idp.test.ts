import { createHash } from 'node:crypto';
import { startIdp, type Idp } from './idp';

const CLIENT = { clientId: 'app-1', clientSecret: 's3cret-value', appMailboxes: ['reports@example.test', 'shared@example.test'] };
const OUTLOOK_SCOPES = 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access';

type Json = Record<string, unknown>;

let idp: Idp;
const logLines: string[] = [];

beforeAll(async () => {
	idp = await startIdp({ quiet: false, log: (line) => logLines.push(line), admin: true });
	idp.addClient(CLIENT);
	idp.addClient({ clientId: 'app-2', clientSecret: 'other', redirectUris: ['http://localhost/cb'] });
});
afterAll(() => idp.stop());
beforeEach(() => idp.reset());

async function post(params: Record<string, string>, init: { basic?: string } = {}): Promise<{ status: number; body: Json }> {
	const res = await fetch(idp.tokenUrl(), {
		method: 'POST',
		headers: {
			'content-type': 'application/x-www-form-urlencoded',
			...(init.basic ? { authorization: `Basic ${Buffer.from(init.basic).toString('base64')}` } : {}),
		},
		body: new URLSearchParams(params),
	});
	const parsed: unknown = await res.json();
	return { status: res.status, body: typeof parsed === 'object' && parsed !== null ? { ...parsed } : {} };
}

async function jsonOf(res: Response | Promise<Response>): Promise<Json> {
	const parsed: unknown = await (await res).json();
	if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected a JSON object');
	return { ...parsed };
}

const claimsOf = (jwt: unknown): Json => JSON.parse(Buffer.from(String(jwt).split('.')[1], 'base64url').toString('utf8'));
const secretOf = { client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret };

async function authorize(query: Record<string, string>): Promise<Response> {
	const url = `${idp.authorizeUrl()}?${new URLSearchParams(query).toString()}`;
	return fetch(url, { redirect: 'manual' });
}

describe('authorization code grant', () => {
	it('redirects with a one-time code bound to client and redirect URI', async () => {
		const res = await authorize({ client_id: CLIENT.clientId, redirect_uri: 'http://localhost:5678/cb', state: 'xyz', scope: OUTLOOK_SCOPES, login_hint: 'bob@example.test', response_type: 'code' });
		expect(res.status).toBe(302);
		const location = new URL(res.headers.get('location') ?? '');
		expect(location.origin + location.pathname).toBe('http://localhost:5678/cb');
		expect(location.searchParams.get('state')).toBe('xyz');
		const code = location.searchParams.get('code') ?? '';

		const wrongRedirect = await post({ ...secretOf, grant_type: 'authorization_code', code, redirect_uri: 'http://evil/cb' });
		expect(wrongRedirect.status).toBe(400);
		expect(wrongRedirect.body.error_codes).toEqual([50011]);

		const ok = await post({ ...secretOf, grant_type: 'authorization_code', code, redirect_uri: 'http://localhost:5678/cb' });
		expect(ok.status).toBe(200);
		expect(ok.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600 });
		expect(typeof ok.body.refresh_token).toBe('string');
		expect(ok.body.scope).toBe('https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send');
		const claims = claimsOf(ok.body.access_token);
		expect(claims).toMatchObject({ aud: 'https://outlook.office.com', scp: 'IMAP.AccessAsUser.All SMTP.Send', upn: 'bob@example.test', email: 'bob@example.test', preferred_username: 'bob@example.test', appid: CLIENT.clientId });
		expect(claims.iss).toBe(`${idp.url}/${String(claims.tid)}/v2.0`);

		const reused = await post({ ...secretOf, grant_type: 'authorization_code', code, redirect_uri: 'http://localhost:5678/cb' });
		expect(reused.body).toMatchObject({ error: 'invalid_grant', error_codes: [54005] });
	});

	it('defaults the user to alice and omits the refresh token without offline_access', async () => {
		const res = await authorize({ client_id: CLIENT.clientId, redirect_uri: 'http://localhost/cb', scope: 'https://outlook.office.com/SMTP.Send' });
		const code = new URL(res.headers.get('location') ?? '').searchParams.get('code') ?? '';
		const ok = await post({ ...secretOf, grant_type: 'authorization_code', code, redirect_uri: 'http://localhost/cb' });
		expect(ok.body.refresh_token).toBeUndefined();
		expect(claimsOf(ok.body.access_token).email).toBe('alice@example.test');
	});

	it('checks PKCE and registered redirect URIs', async () => {
		const verifier = 'a'.repeat(50);
		const challenge = createHash('sha256').update(verifier).digest('base64url');
		const res = await authorize({ client_id: CLIENT.clientId, redirect_uri: 'http://localhost/cb', scope: OUTLOOK_SCOPES, code_challenge: challenge, code_challenge_method: 'S256' });
		const code = new URL(res.headers.get('location') ?? '').searchParams.get('code') ?? '';
		const bad = await post({ ...secretOf, grant_type: 'authorization_code', code, redirect_uri: 'http://localhost/cb', code_verifier: 'b'.repeat(50) });
		expect(bad.body.error_codes).toEqual([501481]);
		const good = await post({ ...secretOf, grant_type: 'authorization_code', code, redirect_uri: 'http://localhost/cb', code_verifier: verifier });
		expect(good.status).toBe(200);

		const unregistered = await authorize({ client_id: 'app-2', redirect_uri: 'http://localhost/other' });
		expect(unregistered.status).toBe(400);
		expect(await unregistered.text()).toContain('AADSTS50011');
	});

	it('shows an error page for an unknown client', async () => {
		const res = await authorize({ client_id: 'nope', redirect_uri: 'http://localhost/cb' });
		expect(res.status).toBe(400);
		expect(await res.text()).toContain('AADSTS700016');
	});
});

describe('client authentication errors, shaped like Entra', () => {
	it('rejects an unknown client with AADSTS700016', async () => {
		const r = await post({ grant_type: 'client_credentials', client_id: 'nope', client_secret: 'x', scope: 'https://outlook.office365.com/.default' });
		expect(r.status).toBe(400);
		expect(r.body).toMatchObject({ error: 'invalid_client', error_codes: [700016] });
	});

	it('rejects a wrong secret with 401 AADSTS7000215 and the full Microsoft body', async () => {
		const r = await post({ grant_type: 'client_credentials', client_id: CLIENT.clientId, client_secret: 'wrong', scope: 'https://outlook.office365.com/.default' });
		expect(r.status).toBe(401);
		expect(r.body).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
		expect(String(r.body.error_description)).toMatch(/^AADSTS7000215: Invalid client secret provided\..*\r\nTrace ID: [0-9a-f-]+\r\nCorrelation ID: [0-9a-f-]+\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/s);
		for (const field of ['timestamp', 'trace_id', 'correlation_id']) expect(typeof r.body[field]).toBe('string');
	});

	it('accepts HTTP Basic client authentication', async () => {
		const r = await post({ grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' }, { basic: `${CLIENT.clientId}:${CLIENT.clientSecret}` });
		expect(r.status).toBe(200);
	});

	it('rejects unsupported and missing grant types', async () => {
		expect((await post({ ...secretOf, grant_type: 'password' })).body).toMatchObject({ error: 'unsupported_grant_type', error_codes: [70003] });
		expect((await post({ ...secretOf })).body).toMatchObject({ error: 'invalid_request', error_codes: [900144] });
	});
});

describe('client credentials grant', () => {
	it('issues an app-only token with roles and the first app mailbox as email', async () => {
		const r = await post({ ...secretOf, grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' });
		expect(r.status).toBe(200);
		expect(r.body.refresh_token).toBeUndefined();
		expect(claimsOf(r.body.access_token)).toMatchObject({ roles: ['SMTP.SendAsApp', 'IMAP.AccessAsApp'], email: 'reports@example.test', idtyp: 'app', aud: 'https://outlook.office365.com' });
		const token = String(r.body.access_token);
		expect(idp.verify(token, 'shared@example.test').ok).toBe(true);
		expect(idp.verify(token, 'alice@example.test')).toMatchObject({ ok: false });
	});

	it('needs a /.default scope (AADSTS1002012)', async () => {
		const r = await post({ ...secretOf, grant_type: 'client_credentials', scope: 'https://outlook.office365.com/SMTP.SendAsApp' });
		expect(r.body).toMatchObject({ error: 'invalid_scope', error_codes: [1002012] });
	});
});

describe('refresh token grant', () => {
	it('rotates refresh tokens and keeps the old ones valid, like Entra', async () => {
		const seeded = idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES });
		const first = await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: seeded.refresh_token });
		expect(first.status).toBe(200);
		expect(first.body.refresh_token).toEqual(expect.any(String));
		expect(first.body.refresh_token).not.toBe(seeded.refresh_token);
		expect(claimsOf(first.body.access_token).scp).toBe('IMAP.AccessAsUser.All SMTP.Send');
		const again = await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: seeded.refresh_token });
		expect(again.status).toBe(200);
	});

	it('refuses unknown, foreign-client and revoked refresh tokens', async () => {
		expect((await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: 'garbage' })).body).toMatchObject({ error: 'invalid_grant', error_codes: [70008] });
		const seeded = idp.issueTokens({ clientId: CLIENT.clientId, user: 'bob@example.test', scope: OUTLOOK_SCOPES });
		const other = await post({ grant_type: 'refresh_token', client_id: 'app-2', client_secret: 'other', refresh_token: seeded.refresh_token });
		expect(other.body).toMatchObject({ error: 'invalid_grant' });
		idp.revokeRefreshTokens('BOB@example.test');
		const revoked = await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: seeded.refresh_token });
		expect(revoked.status).toBe(400);
		expect(revoked.body).toMatchObject({ error: 'invalid_grant', error_codes: [70008] });
	});

	it('can omit the refresh token and honours expires_in_override', async () => {
		const seeded = idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES });
		idp.omitRefreshTokenNext(1);
		const omitted = await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: seeded.refresh_token, expires_in_override: '120' });
		expect(omitted.body.refresh_token).toBeUndefined();
		expect(omitted.body.expires_in).toBe(120);
		const normal = await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: seeded.refresh_token });
		expect(normal.body.refresh_token).toEqual(expect.any(String));
	});

	it('gives an app its own access-token lifetime (a token lifetime policy), for refreshes and app-only tokens', async () => {
		idp.addClient({ clientId: 'short-lived', clientSecret: 'short-secret', appMailboxes: ['reports@example.test'], accessTokenTtlSeconds: 30 });
		const seeded = idp.issueTokens({ clientId: 'short-lived', user: 'alice@example.test', scope: OUTLOOK_SCOPES });
		const refreshed = await post({ client_id: 'short-lived', client_secret: 'short-secret', grant_type: 'refresh_token', refresh_token: seeded.refresh_token });
		expect(refreshed.body).toMatchObject({ expires_in: 30, ext_expires_in: 30 });
		const claims = claimsOf(refreshed.body.access_token);
		expect(Number(claims.exp) - Number(claims.iat)).toBe(30);
		const app = await post({ client_id: 'short-lived', client_secret: 'short-secret', grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' });
		expect(app.body.expires_in).toBe(30);
		// Other apps keep the default hour.
		const other = await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES }).refresh_token });
		expect(other.body.expires_in).toBe(3600);
	});

	it('refuses a scope spanning two resources (AADSTS28000)', async () => {
		const seeded = idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES });
		const r = await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: seeded.refresh_token, scope: 'https://outlook.office.com/SMTP.Send User.Read' });
		expect(r.body).toMatchObject({ error: 'invalid_scope', error_codes: [28000] });
	});
});

describe('scripted failures and delay', () => {
	it('fails the next N requests with a Microsoft body or a raw body, then recovers', async () => {
		const req = { ...secretOf, grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' };
		idp.failNext(1, { status: 401, error: 'invalid_client', aadsts: 7000222 });
		const expired = await post(req);
		expect(expired.status).toBe(401);
		expect(String(expired.body.error_description)).toMatch(/^AADSTS7000222: The provided client secret keys for app are expired/);

		idp.failNext(1, { status: 500, rawBody: '<html>upstream broke</html>' });
		const raw = await fetch(idp.tokenUrl(), { method: 'POST', body: new URLSearchParams(req) });
		expect(raw.status).toBe(500);
		expect(await raw.text()).toBe('<html>upstream broke</html>');

		expect((await post(req)).status).toBe(200);
		expect(idp.tokenRequests.map((r) => [r.grantType, r.clientId, r.status])).toEqual([
			['client_credentials', CLIENT.clientId, 401],
			['client_credentials', CLIENT.clientId, 500],
			['client_credentials', CLIENT.clientId, 200],
		]);
	});

	it('delays token responses', async () => {
		idp.setDelay(300);
		const started = Date.now();
		await post({ ...secretOf, grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' });
		expect(Date.now() - started).toBeGreaterThanOrEqual(280);
	});
});

describe('verify and introspect', () => {
	it('verifies signature, expiry and the mailbox', () => {
		const t = idp.issueTokens({ clientId: CLIENT.clientId, user: 'Alice@Example.test', scope: OUTLOOK_SCOPES });
		expect(idp.verify(t.access_token, 'alice@example.test').ok).toBe(true);
		expect(idp.verify(t.access_token, 'bob@example.test')).toEqual({ ok: false, reason: expect.stringContaining('another user') });
		const [h, p, s] = t.access_token.split('.');
		const forged = Buffer.from(JSON.stringify({ ...claimsOf(t.access_token), email: 'bob@example.test' })).toString('base64url');
		expect(idp.verify(`${h}.${forged}.${s}`)).toEqual({ ok: false, reason: 'invalid signature' });
		expect(idp.verify(`${h}.${p}`)).toEqual({ ok: false, reason: 'malformed token' });
		const expired = idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES, expiresIn: -5 });
		expect(idp.verify(expired.access_token)).toEqual({ ok: false, reason: 'token expired' });
	});

	it('answers RFC 7662 introspection from a form, JSON or a Bearer header', async () => {
		const t = idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES });
		const form = await jsonOf(fetch(idp.introspectUrl, { method: 'POST', body: new URLSearchParams({ token: t.access_token }) }));
		expect(form).toMatchObject({ active: true, email: 'alice@example.test', username: 'alice@example.test', scope: 'IMAP.AccessAsUser.All SMTP.Send', client_id: CLIENT.clientId });
		expect(typeof form.exp).toBe('number');
		const json = await jsonOf(fetch(idp.introspectUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: t.access_token }) }));
		expect(json.active).toBe(true);
		const bearer = await jsonOf(fetch(idp.introspectUrl, { method: 'POST', headers: { authorization: `Bearer ${t.access_token}` } }));
		expect(bearer.active).toBe(true);
		const bad = await jsonOf(fetch(idp.introspectUrl, { method: 'POST', body: new URLSearchParams({ token: 'nope' }) }));
		expect(bad).toEqual({ active: false });
		expect(Object.values(form).some(Array.isArray)).toBe(false);
	});
});

describe('discovery and admin API', () => {
	it('serves OpenID configuration and a JWKS with the signing key', async () => {
		const conf = await jsonOf(fetch(`${idp.url}/test-tenant/v2.0/.well-known/openid-configuration`));
		expect(conf).toMatchObject({ token_endpoint: idp.tokenUrl(), authorization_endpoint: idp.authorizeUrl() });
		const jwks = await jsonOf(fetch(`${idp.url}/discovery/v2.0/keys`));
		const t = idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES });
		const kid: unknown = JSON.parse(Buffer.from(t.access_token.split('.')[0], 'base64url').toString('utf8')).kid;
		expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', kid })]);
	});

	it('scripts the IdP over /_admin/', async () => {
		const admin = (path: string, body?: unknown) =>
			fetch(`${idp.url}/_admin/${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
		expect((await admin('clients', { clientId: 'app-3', clientSecret: 'x3' })).status).toBe(200);
		const issued = await jsonOf(admin('issue-tokens', { clientId: 'app-3', user: 'bob@example.test', scope: OUTLOOK_SCOPES }));
		expect(idp.verify(String(issued.access_token), 'bob@example.test').ok).toBe(true);
		await admin('fail-next', { count: 1, status: 400, error: 'invalid_grant', aadsts: 50173 });
		const failed = await post({ grant_type: 'refresh_token', client_id: 'app-3', client_secret: 'x3', refresh_token: String(issued.refresh_token) });
		expect(failed.body.error_codes).toEqual([50173]);
		const log: unknown = await (await admin('token-requests')).json();
		expect(log).toEqual([expect.objectContaining({ grantType: 'refresh_token', clientId: 'app-3', status: 400 })]);
		await admin('revoke', { user: 'bob@example.test' });
		expect((await post({ grant_type: 'refresh_token', client_id: 'app-3', client_secret: 'x3', refresh_token: String(issued.refresh_token) })).body.error_codes).toEqual([70008]);
		expect((await admin('reset', {})).status).toBe(200);
		expect(idp.tokenRequests).toEqual([]);
	});
});

it('never writes tokens or secrets to its log', async () => {
	const t = idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES });
	await post({ ...secretOf, grant_type: 'refresh_token', refresh_token: t.refresh_token });
	await post({ client_id: CLIENT.clientId, client_secret: 'wrong-secret', grant_type: 'client_credentials' });
	await fetch(idp.introspectUrl, { method: 'POST', body: new URLSearchParams({ token: t.access_token }) });
	const all = logLines.join('\n');
	expect(logLines.length).toBeGreaterThan(3);
	for (const secret of [t.access_token, t.refresh_token, CLIENT.clientSecret, 'wrong-secret', t.access_token.split('.')[2]]) {
		expect(all).not.toContain(secret);
	}
});

describe('Exchange and Entra rules the IdP models', () => {
	const introspect = async (token: string, path: string, service: string) =>
		await jsonOf(fetch(`${idp.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-dovecot-auth-service': service }, body: new URLSearchParams({ token }) }));

	it('refuses a single-tenant app on /organizations and /common (AADSTS50194), at authorize and at the token endpoint', async () => {
		const page = await fetch(`${idp.authorizeUrl('organizations')}?client_id=${CLIENT.clientId}&redirect_uri=http://localhost/cb&response_type=code`, { redirect: 'manual' });
		expect(page.status).toBe(400);
		expect(await page.text()).toContain('AADSTS50194');
		const res = await fetch(idp.tokenUrl('common'), { method: 'POST', body: new URLSearchParams({ ...secretOf, grant_type: 'refresh_token', refresh_token: 'x' }) });
		const body = await jsonOf(res);
		expect(res.status).toBe(400);
		expect(body).toMatchObject({ error: 'invalid_request', error_codes: [50194], error_description: expect.stringMatching(/^AADSTS50194: Application 'app-1'\(n8n mail\) is not configured as a multi-tenant application/) });
	});

	it('allows /organizations for a multi-tenant app', async () => {
		idp.addClient({ clientId: 'multi-1', clientSecret: 'multi-secret', multiTenant: true });
		const t = idp.issueTokens({ clientId: 'multi-1', user: 'alice@example.test', scope: OUTLOOK_SCOPES });
		const res = await fetch(idp.tokenUrl('organizations'), { method: 'POST', body: new URLSearchParams({ client_id: 'multi-1', client_secret: 'multi-secret', grant_type: 'refresh_token', refresh_token: t.refresh_token }) });
		expect(res.status).toBe(200);
	});

	it('refuses sign-in as a shared mailbox (AADSTS50057: its account is disabled)', async () => {
		const page = await fetch(`${idp.authorizeUrl()}?client_id=${CLIENT.clientId}&redirect_uri=http://localhost/cb&response_type=code&login_hint=shared@example.test`, { redirect: 'manual' });
		expect(page.status).toBe(400);
		expect(await page.text()).toContain('AADSTS50057');
	});

	it('gives carol her UPN for SMTP and her address for IMAP, in the token and through introspection', async () => {
		const t = idp.issueTokens({ clientId: CLIENT.clientId, user: 'carol@example.test', scope: `openid ${OUTLOOK_SCOPES}` });
		expect(claimsOf(t.access_token)).toMatchObject({ upn: 'carol.jones@corp.example.test', email: 'carol@example.test', preferred_username: 'carol.jones@corp.example.test' });
		expect(claimsOf(t.id_token)).toMatchObject({ aud: CLIENT.clientId, preferred_username: 'carol.jones@corp.example.test' });
		expect(await introspect(t.access_token, '/introspect', 'smtp')).toMatchObject({ active: true, username: 'carol.jones@corp.example.test' });
		expect(await introspect(t.access_token, '/introspect', 'imap')).toMatchObject({ active: true, username: 'carol@example.test' });
	});

	it('opens a shared mailbox over IMAP only for a delegate with Full Access, never over SMTP', async () => {
		const alice = idp.issueTokens({ clientId: CLIENT.clientId, user: 'alice@example.test', scope: OUTLOOK_SCOPES }).access_token;
		const bob = idp.issueTokens({ clientId: CLIENT.clientId, user: 'bob@example.test', scope: OUTLOOK_SCOPES }).access_token;
		expect(await introspect(alice, '/introspect/mailbox/shared@example.test', 'imap')).toMatchObject({ active: true, username: 'shared@example.test' });
		expect(await introspect(alice, '/introspect/mailbox/shared@example.test', 'smtp')).toEqual({ active: false });
		expect(await introspect(bob, '/introspect/mailbox/shared@example.test', 'imap')).toEqual({ active: false });
		expect(idp.maySendAs(alice, 'shared@example.test')).toBe(true);
		expect(idp.maySendAs(bob, 'shared@example.test')).toBe(false);
	});

	it('sends Retry-After with a scripted throttling answer', async () => {
		idp.failNext(1, { status: 429, error: 'temporarily_unavailable', aadsts: 50196, retryAfter: 7 });
		const res = await fetch(idp.tokenUrl(), { method: 'POST', body: new URLSearchParams({ ...secretOf, grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' }) });
		expect(res.status).toBe(429);
		expect(res.headers.get('retry-after')).toBe('7');
		expect(await jsonOf(res)).toMatchObject({ error_codes: [50196] });
	});
});
