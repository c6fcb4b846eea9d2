/**
 * The token lifecycle through the real n8n execution engine: stale tokens refreshed before use and
 * the rotated refresh token saved; app-only tokens fetched with client credentials; Entra errors
 * mapped to advice; no secret in any error.
 */
import { startIdp, type Idp } from '../../stack/idp';
import { CredentialStore, chain, credentialData, runWorkflow } from '../../support/engine';
import { N8N_HIDES_INVALID_GRANT_DETAIL, N8N_RECORDS_TOKEN_EXPIRY } from '../../support/n8n-version';

const CLIENT = { clientId: 'client-1', clientSecret: 'client-secret-value-1' };
const USER = 'alice@example.test';
const SCOPE = 'offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All';

let idp: Idp;
beforeAll(async () => {
	idp = await startIdp();
	idp.addClient({ ...CLIENT, appMailboxes: [USER] });
});
afterAll(async () => await idp.stop());
beforeEach(() => idp.reset());

function storeWith(data: Record<string, unknown>) {
	const store = new CredentialStore();
	store.add({
		id: 'cred-1',
		name: 'M365 reports',
		type: 'microsoftMailOAuth2Api',
		data: credentialData({ customTokenUrl: idp.tokenUrl(), customAuthUrl: idp.authorizeUrl(), ...data }),
	});
	return store;
}

function seeded(expiresInMs: number) {
	const t = idp.issueTokens({ clientId: CLIENT.clientId, user: USER, scope: SCOPE });
	return { ...t, n8n_expires_at: String(Date.now() + expiresInMs) };
}

async function probe(store: CredentialStore) {
	const { nodes, connections } = chain([{ json: {} }], {
		name: 'Probe',
		type: 'test.tokenProbe',
		parameters: {},
		credentials: { microsoftMailOAuth2Api: { id: 'cred-1', name: 'M365 reports' } },
	});
	return await runWorkflow({ nodes, connections, store });
}

function errorText(result: Awaited<ReturnType<typeof probe>>): string {
	const e = result.error('Probe');
	return `${e?.message ?? ''}\n${e?.description ?? ''}`;
}

describe('token lifecycle', () => {
	it('uses a fresh stored token without asking the identity provider', async () => {
		const store = storeWith({ oauthTokenData: seeded(3600_000) });
		const result = await probe(store);
		expect(result.output('Probe')[0].json.refreshes).toBe(0);
		expect(idp.tokenRequests).toHaveLength(0);
		expect(store.tokenUpdates).toHaveLength(0);
	});

	it('refreshes a token that expires within minutes and saves the rotated refresh token', async () => {
		const old = seeded(60_000);
		const store = storeWith({ oauthTokenData: old });
		const result = await probe(store);
		expect(result.output('Probe')[0].json.refreshes).toBe(1);
		expect(idp.tokenRequests.map((r) => r.grantType)).toEqual(['refresh_token']);
		expect(store.tokenUpdates).toHaveLength(1);
		const saved = store.tokenData('cred-1');
		expect(saved.refresh_token).toBeTruthy();
		expect(saved.refresh_token).not.toBe(old.refresh_token);
		expect(saved.access_token).not.toBe(old.access_token);
		expect(idp.verify(String(saved.access_token), USER).ok).toBe(true);
		const again = await probe(store);
		if (N8N_RECORDS_TOKEN_EXPIRY) {
			expect(Number(saved.n8n_expires_at)).toBeGreaterThan(Date.now() + 30 * 60_000);
			// the next run uses the saved token as it is
			expect(again.output('Probe')[0].json.refreshes).toBe(0);
			expect(idp.tokenRequests).toHaveLength(1);
		} else {
			// n8n before 2.33 saves no new expiry: the next run cannot trust the token and refreshes
			// again (one token request per execution, as the README says), and that works too.
			expect(Number(saved.n8n_expires_at || 0)).toBeLessThan(Date.now() + 30 * 60_000);
			expect(again.output('Probe')[0].json.refreshes).toBe(1);
			expect(idp.tokenRequests.map((r) => r.grantType)).toEqual(['refresh_token', 'refresh_token']);
			expect(idp.verify(String(store.tokenData('cred-1').access_token), USER).ok).toBe(true);
		}
	});

	it('knows when the refreshed token expires on every n8n, also where n8n records no expiry (before 2.33)', async () => {
		// The stored token's expiry (a minute away) must not outlive the token it belonged to.
		const store = storeWith({ oauthTokenData: seeded(60_000) });
		const before = Date.now();
		const result = await probe(store);
		const after = Date.now();
		expect(result.output('Probe')[0].json.refreshes).toBe(1);
		// The IdP's tokens live an hour: the session counts that hour from the refresh, on 2.0 as on 2.41.
		const expiresAt = Number(result.output('Probe')[0].json.expiresAt);
		expect(expiresAt).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
		expect(expiresAt).toBeLessThanOrEqual(after + 3600_000 + 1000);
	});

	it('refreshes when the expiry time is missing', async () => {
		const { n8n_expires_at: _drop, ...noExpiry } = seeded(3600_000);
		const store = storeWith({ oauthTokenData: noExpiry });
		await probe(store);
		expect(idp.tokenRequests).toHaveLength(1);
		expect(store.tokenUpdates).toHaveLength(1);
	});

	it('tells the user to connect an account that was never connected', async () => {
		const store = storeWith({ oauthTokenData: {} });
		const result = await probe(store);
		expect(errorText(result)).toMatch(/not connected/i);
		expect(errorText(result)).toMatch(/"Connect"/);
		expect(idp.tokenRequests).toHaveLength(0);
	});

	it('fetches app-only tokens with the client-credentials grant', async () => {
		const store = storeWith({
			grantType: 'clientCredentials',
			customScopes: 'https://outlook.office365.com/.default',
			oauthTokenData: {},
		});
		const result = await probe(store);
		expect(result.output('Probe')[0].json.refreshes).toBe(1);
		expect(idp.tokenRequests.map((r) => r.grantType)).toEqual(['client_credentials']);
		const saved = store.tokenData('cred-1');
		const check = idp.verify(String(saved.access_token), USER);
		expect(check.ok && check.claims.roles).toBeTruthy();
	});

	it('uses the app-only default scope of the cloud when no custom scope is set', async () => {
		const store = storeWith({ grantType: 'clientCredentials', oauthTokenData: {} });
		await probe(store);
		const check = idp.verify(String(store.tokenData('cred-1').access_token), USER);
		expect(check.ok && check.claims.aud).toBe('https://outlook.office365.com');
	});

	// The credential fixes n8n's "Allowed HTTP Request Domains" to None (hidden), so that no HTTP
	// Request node can carry this credential's token elsewhere: the token lifecycle must not mind.
	it('still refreshes and fetches tokens when the credential is barred from HTTP Request nodes', async () => {
		const delegated = storeWith({ allowedHttpRequestDomains: 'none', oauthTokenData: seeded(60_000) });
		expect((await probe(delegated)).output('Probe')[0].json.refreshes).toBe(1);
		const appOnly = storeWith({ allowedHttpRequestDomains: 'none', grantType: 'clientCredentials', oauthTokenData: {} });
		expect((await probe(appOnly)).output('Probe')[0].json.refreshes).toBe(1);
		expect(idp.tokenRequests.map((r) => r.grantType)).toEqual(['refresh_token', 'client_credentials']);
	});
});

describe('token endpoint errors become advice', () => {
	const cases: Array<[string, number, RegExp]> = [
		['invalid_client', 7000215, /secret's Value.*not its Secret ID/],
		['invalid_client', 7000222, /new client secret/i],
		['unauthorized_client', 700016, /Client ID/],
		['invalid_request', 90002, /Cloud setting/],
	];
	it.each(cases)('%s AADSTS%d', async (error, aadsts, advice) => {
		const old = seeded(-1000);
		const store = storeWith({ oauthTokenData: old });
		idp.failNext(1, { error, aadsts, status: error === 'invalid_client' ? 401 : 400 });
		const result = await probe(store);
		const text = errorText(result);
		expect(text).toMatch(advice);
		for (const secret of [old.access_token, old.refresh_token, CLIENT.clientSecret]) expect(text).not.toContain(secret);
		expect(store.tokenUpdates).toHaveLength(0);
		expect(idp.tokenRequests).toHaveLength(1);
	});

	// n8n 2.27+ turns invalid_grant into "needs to be reconnected" and drops the body with its AADSTS
	// code: the node says what invalid_grant means. Older n8n passes the body on: the node gives the
	// advice for that code. Either way it never asks the token endpoint a second time.
	const grants: Array<[number, RegExp]> = [
		[65001, /Grant admin consent/],
		[50076, /complete the MFA prompt/],
		[70008, /expired \(unused for 90 days\) or was revoked/],
		[700082, /not used for 90 days/],
		[53003, /Conditional Access policy/],
		[530035, /security defaults/],
	];
	it.each(grants)('invalid_grant AADSTS%d: what invalid_grant means, with one token request', async (aadsts, exact) => {
		const old = seeded(-1000);
		const store = storeWith({ oauthTokenData: old });
		idp.failNext(1, { error: 'invalid_grant', aadsts, status: 400 });
		const result = await probe(store);
		const text = errorText(result);
		if (N8N_HIDES_INVALID_GRANT_DETAIL) {
			expect(text).toMatch(/invalid_grant.*MFA, Conditional Access, admin consent/s);
			expect(text).toMatch(/"Switch account"/);
		} else {
			expect(text).toMatch(exact);
		}
		for (const secret of [old.access_token, old.refresh_token, CLIENT.clientSecret]) expect(text).not.toContain(secret);
		expect(idp.tokenRequests).toHaveLength(1);
	});

	it('a revoked refresh token asks to reconnect', async () => {
		const old = seeded(-1000);
		idp.revokeRefreshTokens(USER);
		const result = await probe(storeWith({ oauthTokenData: old }));
		expect(errorText(result)).toMatch(/"Connect"/);
		expect(errorText(result)).not.toContain(old.refresh_token);
	});

	it('an identity provider that is down gives a retryable, clear message', async () => {
		const store = storeWith({ oauthTokenData: seeded(-1000), customTokenUrl: 'http://127.0.0.1:9/tenant/oauth2/v2.0/token' });
		const result = await probe(store);
		expect(errorText(result)).toMatch(/could not be reached|did not answer/i);
	});

	it('an HTTP 500 from the identity provider is reported as an outage', async () => {
		const store = storeWith({ oauthTokenData: seeded(-1000) });
		idp.failNext(1, { status: 500, rawBody: '<html>Internal Server Error</html>' });
		const result = await probe(store);
		expect(errorText(result)).toMatch(/could not be reached or failed/i);
	});
});

describe('refresh tokens that rotate on use (single-use)', () => {
	let rotating: Idp;
	beforeAll(async () => {
		rotating = await startIdp({ rotateRefreshTokens: true });
		rotating.addClient({ ...CLIENT, appMailboxes: [USER] });
	});
	afterAll(async () => await rotating.stop());

	function rotatingStore() {
		const t = rotating.issueTokens({ clientId: CLIENT.clientId, user: USER, scope: SCOPE });
		const store = new CredentialStore();
		store.add({
			id: 'cred-1',
			name: 'M365 reports',
			type: 'microsoftMailOAuth2Api',
			data: credentialData({ customTokenUrl: rotating.tokenUrl(), customAuthUrl: rotating.authorizeUrl(), oauthTokenData: { ...t, n8n_expires_at: String(Date.now() - 1000) } }),
		});
		return store;
	}

	it('a refusal of the refresh spends the stored refresh token once, and the credential keeps working', async () => {
		const store = rotatingStore();
		const stored = String(store.tokenData('cred-1').refresh_token);
		rotating.failNext(1, { error: 'invalid_grant', aadsts: 50076, status: 400 });
		const refused = await probe(store);
		expect(errorText(refused)).toMatch(/"Switch account"/);
		// Only n8n's own request: the package did not send the refresh token a second time.
		expect(rotating.tokenRequests).toHaveLength(1);
		expect(store.tokenData('cred-1').refresh_token).toBe(stored);

		const next = await probe(store);
		expect(next.error('Probe')).toBeUndefined();
		expect(next.output('Probe')[0].json.refreshes).toBe(1);
		expect(rotating.tokenRequests.map((r) => r.status)).toEqual([400, 200]);
		// The rotated refresh token was saved and is the one the next refresh will use.
		expect(store.tokenData('cred-1').refresh_token).not.toBe(stored);
		rotating.failNext(0, {});
		const stale = { ...store.tokenData('cred-1'), n8n_expires_at: String(Date.now() - 1000) };
		store.get('cred-1').data.oauthTokenData = stale;
		const third = await probe(store);
		expect(third.error('Probe')).toBeUndefined();
		expect(rotating.tokenRequests.map((r) => r.status)).toEqual([400, 200, 200]);
	});
});
