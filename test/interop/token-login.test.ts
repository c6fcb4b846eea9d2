/**
 * The token lifecycle against the real servers: XOAUTH2 logins that Postfix (SASL via Dovecot) and
 * Dovecot IMAP accept with a fresh token, and refuse with an expired or foreign one — with exactly
 * one refresh and one retry, and the user-facing error when the retry cannot help.
 * Runs through n8n-core's WorkflowExecute with a probe node that uses the shared token module.
 */
import { CredentialStore, chain, runWorkflow } from '../support/engine';
import { ALICE, BOB, CREDENTIAL, admin, stack, stackStore, stackTokens } from './fixture';


jest.setTimeout(60_000);

beforeEach(async () => await admin.reset());



async function login(s: CredentialStore, what: { smtp: boolean; imap: boolean }) {
	const { nodes, connections } = chain([{ json: {} }], {
		name: 'Probe',
		type: 'test.tokenProbe',
		parameters: what,
		credentials: { microsoftMailOAuth2Api: CREDENTIAL },
	});
	return await runWorkflow({ nodes, connections, store: s });
}

const endpoints = [
	['XOAUTH2-only IMAP (like Microsoft 365)', stack.ports.m365Imaps],
	['IMAP offering OAUTHBEARER too', stack.ports.imaps],
] as const;

describe.each(endpoints)('Postfix submission + Dovecot %s', (_label, imapPort) => {
	it('accepts a fresh token over SMTP and IMAP without asking the identity provider', async () => {
		const s = stackStore(await stackTokens(ALICE), { imapPort });
		const result = await login(s, { smtp: true, imap: true });
		expect(result.output('Probe')[0].json).toMatchObject({ done: ['smtp', 'imap'], refreshes: 0, renewed: false });
		expect(await admin.tokenRequests()).toHaveLength(0);
	});

	it('refreshes once and retries once when the server says the token expired', async () => {
		const stale = await stackTokens(ALICE, -60);
		const s = stackStore(stale, { imapPort });
		const result = await login(s, { smtp: true, imap: true });
		expect(result.output('Probe')[0].json).toMatchObject({ done: ['smtp', 'imap'], refreshes: 1, renewed: true });
		expect((await admin.tokenRequests()).map((r) => r.grantType)).toEqual(['refresh_token']);
		expect(s.tokenUpdates).toHaveLength(1);
		expect(s.tokenData('cred-real').refresh_token).not.toBe(stale.refresh_token);
	});

	it("refuses another user's token for alice's mailbox with the Full Access command after one refresh, never looping", async () => {
		const foreign = await stackTokens(BOB);
		const s = stackStore(foreign, { imapPort });
		const result = await login(s, { smtp: false, imap: true });
		const error = result.error('Probe');
		expect(error?.message).toMatch(/bob@example\.test signed in, but could not open alice@example\.test/);
		expect(error?.description).toMatch(/Add-MailboxPermission -Identity alice@example\.test -User bob@example\.test -AccessRights FullAccess/);
		expect(await admin.tokenRequests()).toHaveLength(1);
		const text = `${error?.message}\n${error?.description}`;
		for (const secret of [foreign.access_token, foreign.refresh_token, stack.client.clientSecret]) expect(text).not.toContain(secret);
	});
});

it("SMTP logs in as the account that signed in, as Exchange demands: bob's token on alice's credential logs in as bob, no refresh", async () => {
	const foreign = await stackTokens(BOB);
	const s = stackStore(foreign, { imapPort: stack.ports.m365Imaps });
	const result = await login(s, { smtp: true, imap: false });
	expect(result.error('Probe')).toBeUndefined();
	expect(result.output('Probe')[0].json).toMatchObject({ done: ['smtp'], refreshes: 0 });
	expect(await admin.tokenRequests()).toHaveLength(0);
});

it('a token Postfix refuses is refreshed exactly once; when the refresh fails too, the error says why', async () => {
	// A token whose signature Dovecot's introspection rejects, and whose refresh is refused too.
	const tokens = await stackTokens(ALICE);
	const [h, p] = String(tokens.access_token).split('.');
	const s = stackStore({ ...tokens, access_token: `${h}.${p}.forged-signature` }, { imapPort: stack.ports.m365Imaps });
	await admin.failNext(1, { status: 500, error: 'server_error' });
	const result = await login(s, { smtp: true, imap: false });
	expect(`${result.error('Probe')?.message}`).toMatch(/sign-in service/);
	expect(await admin.tokenRequests()).toHaveLength(1);
});

it('an expired token whose refresh token was revoked asks to reconnect', async () => {
	const stale = await stackTokens(ALICE, -60);
	await admin.revokeRefreshTokens(ALICE);
	const s = stackStore(stale, { imapPort: stack.ports.m365Imaps });
	const result = await login(s, { smtp: true, imap: false });
	expect(`${result.error('Probe')?.message} ${result.error('Probe')?.description}`).toMatch(/"Connect"/);
});
