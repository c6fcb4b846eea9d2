/**
 * Verify Mailbox against the in-process IMAP server (hoodiecrow) and the test IdP: token and IMAP
 * checks, and the ways they fail in Microsoft 365.
 */
import type { Idp } from '../../stack/idp';
import { startImapServer, type ImapServer } from '../../support/imap-server';
import { OTHER_USER, USER, runVerify, secretsIn, seededToken, startTestIdp, storeWith } from './fixture';

let idp: Idp;
let imap: ImapServer;
beforeAll(async () => {
	idp = await startTestIdp();
	imap = await startImapServer({ idp, mailbox: USER });
});
afterAll(async () => {
	await imap.stop();
	await idp.stop();
});
beforeEach(() => {
	idp.reset();
	imap.setMode('normal');
	imap.logins.length = 0;
});

describe('Verify Mailbox over IMAP', () => {
	it('is Verified with a good token and reports folders, counts and quota', async () => {
		imap.deliver('From: x@example.test\r\nTo: alice@example.test\r\nSubject: hi\r\nMessage-ID: <m1@example.test>\r\n\r\nhello\r\n');
		const run = await runVerify(storeWith(idp, { imap }), { checks: ['imap'] });
		const v = run.verification();
		expect(v).toMatchObject({ status: 'Verified', mailbox: USER, failedCheck: null, reason: null, hint: null });
		expect(run.check('token')).toMatchObject({ status: 'ok', audience: 'https://outlook.office.com', issuedTo: USER });
		expect(run.check('token').scopes).toEqual(expect.arrayContaining(['SMTP.Send', 'IMAP.AccessAsUser.All']));
		expect(run.check('imap')).toMatchObject({
			status: 'ok',
			mechanism: 'XOAUTH2',
			inbox: { messages: 1, unseen: 1 },
			quota: { usedBytes: 1024 * 1024, limitBytes: 50 * 1024 ** 3 },
		});
		expect(run.check('imap').folders).toEqual(expect.arrayContaining(['INBOX', 'Sent Items']));
		expect(run.check('smtp')).toMatchObject({ status: 'skipped', detail: 'Not selected' });
		expect(imap.logins).toEqual([{ mechanism: 'XOAUTH2', user: USER, ok: true }]);
	});

	it('a folder named like a secret (access_token="...") is masked in place and does not break the output', async () => {
		const odd = await startImapServer({ idp, mailbox: USER, extraFolders: ['access_token="folder-value-123"', 'Bearer folder-bearer-456'] });
		try {
			const run = await runVerify(storeWith(idp, { imap: odd }), { checks: ['imap'], failWhenNotVerified: false });
			expect(run.result.error('Verify')).toBeUndefined();
			expect(run.verification()).toMatchObject({ status: 'Verified' });
			const folders = run.check('imap').folders as string[];
			expect(folders).toEqual(expect.arrayContaining(['INBOX', 'access_token="[redacted]"', 'Bearer [redacted]']));
			expect(JSON.stringify(run.verification())).not.toMatch(/folder-value-123|folder-bearer-456/);
		} finally {
			await odd.stop();
		}
	});

	it.each([
		['Checks', { checks: '={{ "smtp" }}' }, /^Checks: the expression did not give a list/],
		['Checks', { checks: '={{ ["smtp", "pop3"] }}' }, /^Checks: "pop3" is not a check/],
		['Timeout per Check', { options: { checkTimeout: '={{ "soon" }}' } }, /^Options > Timeout per Check \(Seconds\): "soon" is not a number of seconds/],
	])('refuses %s of the wrong type from an expression, naming the field', async (_field, p, message) => {
		const run = await runVerify(storeWith(idp, { imap }), p);
		expect(run.result.error('Verify')?.message).toMatch(message);
		expect(imap.logins).toHaveLength(0);
	});

	it('is Not Verified at the token check for an expired token whose refresh is refused', async () => {
		const store = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { jwtExpiresIn: -60 }) });
		idp.revokeRefreshTokens(USER);
		const run = await runVerify(store, { checks: ['imap'] });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'token' });
		expect(String(run.verification().hint)).toMatch(/"Connect"/);
		expect(run.check('imap')).toMatchObject({ status: 'skipped', detail: 'Skipped: no usable token' });
		expect(imap.logins).toHaveLength(0);
	});

	it('names the IMAP check when the server refuses a token issued to another user', async () => {
		const store = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { user: OTHER_USER }) });
		const run = await runVerify(store, { checks: ['imap'] });
		const v = run.verification();
		// bob signed in and tried to open alice's mailbox: the missing piece is Full Access, with the command filled in.
		expect(v).toMatchObject({ status: 'Not Verified', failedCheck: 'imap', code: 'IMAP_NO_FULL_ACCESS' });
		expect(String(v.reason)).toMatch(/bob@example\.test signed in, but could not open alice@example\.test.*AUTHENTICATE failed/);
		expect(String(v.hint)).toContain('Add-MailboxPermission -Identity alice@example.test -User bob@example.test -AccessRights FullAccess');
		expect(imap.logins.every((l) => l.user === USER)).toBe(true);
		// Refused once, refreshed once, refused again: no endless retry.
		expect(imap.logins.map((l) => l.ok)).toEqual([false, false]);
	});

	it('gives Microsoft\'s "authenticated but not connected" its own hint', async () => {
		imap.setMode('notConnected');
		const run = await runVerify(storeWith(idp, { imap }), { checks: ['imap'] });
		const v = run.verification();
		expect(v).toMatchObject({ status: 'Not Verified', failedCheck: 'imap', code: 'IMAP_NOT_CONNECTED' });
		// A delegated credential: the advice for delegated sign-ins only, not the app-only commands.
		expect(String(v.hint)).toMatch(/Full Access to a shared mailbox/);
		expect(String(v.hint)).not.toMatch(/New-ServicePrincipal/);
	});

	it('shows the mapped AADSTS reason and fix when the token endpoint refuses', async () => {
		const store = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { validForMs: -1000 }) });
		idp.failNext(2, { status: 401, error: 'invalid_client', aadsts: 7000222 });
		const run = await runVerify(store, { checks: ['imap'] });
		const v = run.verification();
		expect(v).toMatchObject({ status: 'Not Verified', failedCheck: 'token', code: 'AADSTS7000222' });
		expect(String(v.reason)).toMatch(/client secret has expired/);
		expect(String(v.hint)).toMatch(/New client secret/);
	});

	it('is Not Verified within the check timeout when the token endpoint hangs', async () => {
		const store = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { validForMs: -1000 }) });
		idp.setDelay(2500);
		const started = Date.now();
		const run = await runVerify(store, { checks: ['imap'], checkTimeout: 1 });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'token', code: 'TOKEN_TIMEOUT' });
		expect(Date.now() - started).toBeLessThan(2400);
		expect(imap.logins).toHaveLength(0);
		// n8n shares one in-flight refresh per credential (same id in every test): let it end,
		// saved and its lease released, before the next test, or that test joins it.
		while (store.tokenUpdates.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
		await new Promise((resolve) => setTimeout(resolve, 100));
	});

	it('never puts a token or secret into the output or the error', async () => {
		const foreign = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { user: OTHER_USER }) });
		const outputs = [JSON.stringify((await runVerify(foreign, { checks: ['imap'] })).verification())];
		const failing = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { user: OTHER_USER }) });
		const thrown = (await runVerify(failing, { checks: ['imap'], failWhenNotVerified: true })).result.error('Verify');
		expect(thrown).toBeDefined();
		outputs.push(`${thrown?.message ?? ''} ${thrown?.description ?? ''} ${JSON.stringify(thrown?.context ?? {})}`);
		for (const text of outputs)
			for (const secret of [...secretsIn(foreign), ...secretsIn(failing)]) {
				expect(text).not.toContain(secret);
				expect(text).not.toContain(Buffer.from(secret).toString('base64'));
			}
		expect(outputs.join(' ')).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\./);
	});
});

describe('Verify Mailbox with an OAUTHBEARER-capable IMAP server', () => {
	it('logs in with OAUTHBEARER when the server offers it, and still verifies', async () => {
		const both = await startImapServer({ idp, mailbox: USER, mechanisms: ['XOAUTH2', 'OAUTHBEARER'], quota: false });
		try {
			const run = await runVerify(storeWith(idp, { imap: both }), { checks: ['imap'] });
			expect(run.verification()).toMatchObject({ status: 'Verified' });
			expect(run.check('imap')).toMatchObject({ status: 'ok', mechanism: 'OAUTHBEARER' });
			expect(run.check('imap').quota).toBeUndefined();
			expect(both.logins).toEqual([{ mechanism: 'OAUTHBEARER', user: USER, ok: true }]);
		} finally {
			await both.stop();
		}
	});
});

describe('Verify Mailbox with an unreachable IMAP server', () => {
	it('is Not Verified quickly when the server is down', async () => {
		const down = await startImapServer({ idp, mailbox: USER, mode: 'down' });
		const started = Date.now();
		const run = await runVerify(storeWith(idp, { imap: down }), { checks: ['imap'], checkTimeout: 5 });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'imap', code: 'CONNECTION_REFUSED' });
		expect(Date.now() - started).toBeLessThan(5000);
		await down.stop();
	});

	it('is Not Verified within the check timeout when the server stalls', async () => {
		const stall = await startImapServer({ idp, mailbox: USER, mode: 'stall' });
		const started = Date.now();
		const run = await runVerify(storeWith(idp, { imap: stall }), { checks: ['imap'], checkTimeout: 2 });
		const v = run.verification();
		expect(v).toMatchObject({ status: 'Not Verified', failedCheck: 'imap' });
		expect(String(v.code)).toMatch(/TIMEOUT/);
		expect(Date.now() - started).toBeLessThan(4500);
		await stall.stop();
	});
});
