/**
 * Who logs in where, as Exchange Online enforces it (test IdP directory: shared@ is a shared
 * mailbox with a disabled account; alice has Full Access and Send As on it, carol Full Access only,
 * bob nothing; carol signs in as carol.jones@corp.example.test, her address is carol@example.test).
 * The in-process SMTP server refuses SMTP login as anyone but the signed-in UPN (535 5.7.3), and
 * From addresses without Send As (550 5.7.60); the IMAP server opens a mailbox only for its owner or
 * a delegate with Full Access. Also: the tenant, throttling at the sign-in service, temporary IMAP
 * failures, and IMAP's STARTTLS option, through n8n's real execution engine.
 */
import { runSend } from '../SendReportEmail/fixture';
import { deliverInto, runVerify, seededToken, startTestIdp, storeWith } from '../VerifyMailbox/fixture';
import type { Idp } from '../../stack/idp';
import { startImapServer, type ImapServer } from '../../support/imap-server';
import { startSmtpServer, type SmtpFixture } from '../../support/smtp-server';

const SHARED = 'shared@example.test';
const ALICE = 'alice@example.test';
const CAROL_UPN = 'carol.jones@corp.example.test';
const CAROL_MAIL = 'carol@example.test';

let idp: Idp;
let smtp: SmtpFixture;
let sharedBox: ImapServer;
let stopDelivery: () => void;
beforeAll(async () => {
	idp = await startTestIdp();
	smtp = await startSmtpServer({ idp });
	sharedBox = await startImapServer({ idp, mailbox: SHARED });
	stopDelivery = deliverInto(smtp, sharedBox);
});
afterAll(async () => {
	stopDelivery();
	await sharedBox.stop();
	await smtp.stop();
	await idp.stop();
});
beforeEach(() => {
	idp.reset();
	// The delivery loop counts what it delivered: restart it with the emptied message list.
	stopDelivery();
	smtp.reset();
	stopDelivery = deliverInto(smtp, sharedBox);
	sharedBox.logins.length = 0;
});

/** A credential for the shared mailbox, connected by `user` ("Connect my account" as the delegate). */
const sharedCredential = (user: string, extra: Record<string, unknown> = {}) =>
	storeWith(idp, { imap: sharedBox, smtp }, { mailbox: SHARED, oauthTokenData: seededToken(idp, { user }), ...extra });

describe('the test servers model Exchange', () => {
	it('refuses SMTP login as the shared mailbox with the delegate\'s token, allows IMAP with Full Access only', () => {
		const token = String(seededToken(idp, { user: ALICE }).access_token);
		expect(idp.verify(token, SHARED, 'smtp').ok).toBe(false);
		expect(idp.verify(token, ALICE, 'smtp').ok).toBe(true);
		expect(idp.verify(token, SHARED, 'imap').ok).toBe(true);
		const bob = String(seededToken(idp, { user: 'bob@example.test' }).access_token);
		expect(idp.verify(bob, SHARED, 'imap').ok).toBe(false);
	});

	it('lets nobody sign in as the shared mailbox itself', () => {
		expect(() => seededToken(idp, { user: SHARED })).toThrow(/AADSTS50057/);
	});

	it('takes only the UPN for SMTP when it differs from the address', () => {
		const token = String(seededToken(idp, { user: CAROL_MAIL }).access_token);
		expect(idp.verify(token, CAROL_UPN, 'smtp').ok).toBe(true);
		expect(idp.verify(token, CAROL_MAIL, 'smtp').ok).toBe(false);
		expect(idp.verify(token, CAROL_MAIL, 'imap').ok).toBe(true);
	});
});

describe('a shared mailbox used through a delegate', () => {
	it('sends From the shared mailbox with SMTP logged in as the delegate, and says so in the output', async () => {
		const out = await runSend(sharedCredential(ALICE), [{ json: {} }], {});
		expect(out.error).toBeUndefined();
		expect(smtp.authAttempts).toEqual([{ user: ALICE, ok: true }]);
		expect(smtp.messages[0].envelope.mailFrom).toBe(SHARED);
		expect((await smtp.parsed(0)).from?.value[0].address).toBe(SHARED);
		expect(out.items[0].json).toMatchObject({ loggedInAs: ALICE, envelope: { from: SHARED } });
	});

	it('is Verified, each check naming who logged in and as which mailbox; the round trip proves Send As', async () => {
		const run = await runVerify(sharedCredential(ALICE), { checks: ['smtp', 'imap', 'roundTrip'], roundTripTimeout: 30 });
		expect({ ...run.verification(), checks: undefined }).toMatchObject({ status: 'Verified', mailbox: SHARED, reason: null });
		expect(run.check('token')).toMatchObject({ signedInAccount: ALICE });
		expect(run.check('smtp')).toMatchObject({ status: 'ok', loggedInAs: ALICE, mailbox: SHARED });
		expect(run.check('imap')).toMatchObject({ status: 'ok', loggedInAs: ALICE, mailbox: SHARED });
		expect(String(run.check('imap').detail)).toContain(`${ALICE} opened ${SHARED}`);
		expect(run.check('roundTrip')).toMatchObject({ status: 'ok', loggedInAs: ALICE, from: SHARED });
		expect(String(run.check('roundTrip').detail)).toMatch(/Send As proven/);
		expect(sharedBox.logins.every((l) => l.user === SHARED && l.ok)).toBe(true);
		expect(smtp.authAttempts.every((a) => a.user === ALICE && a.ok)).toBe(true);
	});

	it('without Send As: Not Verified at the round trip, with Add-RecipientPermission filled in', async () => {
		const run = await runVerify(sharedCredential(CAROL_MAIL), { checks: ['smtp', 'imap', 'roundTrip'], roundTripTimeout: 5 });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'roundTrip', code: 'SMTP_SEND_AS_DENIED' });
		expect(String(run.verification().hint)).toContain(`Add-RecipientPermission -Identity ${SHARED} -Trustee ${CAROL_UPN} -AccessRights SendAs`);
		expect(smtp.messages).toHaveLength(0);
	});

	it('without Full Access: Not Verified at IMAP, with Add-MailboxPermission filled in', async () => {
		const run = await runVerify(sharedCredential('bob@example.test'), { checks: ['imap'] });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'imap', code: 'IMAP_NO_FULL_ACCESS' });
		expect(String(run.verification().hint)).toContain(`Add-MailboxPermission -Identity ${SHARED} -User bob@example.test -AccessRights FullAccess`);
	});

	it('a delegate whose token lacks IMAP.AccessAsUser.All is told about the permission, not Full Access', async () => {
		const smtpOnly = { ...idp.issueTokens({ clientId: 'client-1', user: ALICE, scope: 'offline_access https://outlook.office.com/SMTP.Send' }), n8n_expires_at: String(Date.now() + 3600_000) };
		const run = await runVerify(sharedCredential(ALICE, { oauthTokenData: smtpOnly }), { checks: ['imap'] });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'imap', code: 'IMAP_AUTH_REJECTED' });
		expect(String(run.verification().hint)).toMatch(/IMAP\.AccessAsUser\.All/);
	});

	it('without Send As, Send Report Email refuses with the command filled in and sends nothing', async () => {
		const out = await runSend(sharedCredential(CAROL_MAIL), [{ json: {} }], {}, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'SMTP_SEND_AS_DENIED', hint: expect.stringContaining(`-Identity ${SHARED} -Trustee ${CAROL_UPN}`) });
		expect(smtp.messages).toHaveLength(0);
	});
});

describe('a sign-in name (UPN) that is not the email address', () => {
	it('logs in to SMTP as the UPN read from the sign-in, sends From the address', async () => {
		const store = storeWith(idp, { smtp }, { mailbox: CAROL_MAIL, oauthTokenData: seededToken(idp, { user: CAROL_MAIL }) });
		const out = await runSend(store, [{ json: {} }], {});
		expect(out.error).toBeUndefined();
		expect(smtp.authAttempts).toEqual([{ user: CAROL_UPN, ok: true }]);
		expect(smtp.messages[0].envelope.mailFrom).toBe(CAROL_MAIL);
		expect(out.items[0].json.loggedInAs).toBe(CAROL_UPN);
	});

	it('uses the Signed-In Account field when the sign-in returned no readable name', async () => {
		const opaque = { ...seededToken(idp, { user: CAROL_MAIL }), access_token: 'opaque-token-from-a-proxy-0123456789' };
		// The server cannot check an opaque token; the point is the XOAUTH2 user it was offered.
		const store = storeWith(idp, { smtp }, { mailbox: CAROL_MAIL, signInAccount: CAROL_UPN, oauthTokenData: opaque });
		await runSend(store, [{ json: {} }], {}, { continueOnFail: true });
		expect(smtp.authAttempts[0]).toEqual({ user: CAROL_UPN, ok: false });
	});
});

describe('the tenant', () => {
	it('refuses a single-tenant app on /organizations with AADSTS50194, mapped to "enter your Directory (tenant) ID"; nothing sent', async () => {
		const store = storeWith(idp, { smtp }, { tenantId: 'organizations', customTokenUrl: idp.tokenUrl('organizations'), oauthTokenData: seededToken(idp, { validForMs: -1000 }) });
		const out = await runSend(store, [{ json: {} }], {}, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'AADSTS50194', hint: expect.stringMatching(/Enter your Directory \(tenant\) ID/) });
		expect(smtp.connections).toBe(0);
	});

	it('connects and sends with the tenant ID, as the README says', async () => {
		const store = storeWith(idp, { smtp }, { tenantId: 'test-tenant', customTokenUrl: idp.tokenUrl('test-tenant'), oauthTokenData: seededToken(idp, { validForMs: -1000 }) });
		const out = await runSend(store, [{ json: {} }], {});
		expect(out.error).toBeUndefined();
		expect(idp.tokenRequests).toEqual([expect.objectContaining({ grantType: 'refresh_token', status: 200 })]);
		expect(smtp.messages).toHaveLength(1);
	});

	it('names the empty tenant field before asking anyone', async () => {
		const store = storeWith(idp, { smtp }, { tenantId: '', customTokenUrl: '', customAuthUrl: '' });
		const out = await runSend(store, [{ json: {} }], {}, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'INVALID_CREDENTIAL', error: expect.stringMatching(/Directory \(Tenant\) ID/) });
		expect(idp.tokenRequests).toHaveLength(0);
	});
});

describe('throttling at the sign-in service is temporary', () => {
	const throttled = { status: 429, error: 'temporarily_unavailable', aadsts: 50196, retryAfter: 1 };

	it('waits and asks once more, then sends', async () => {
		idp.failNext(1, throttled);
		const store = storeWith(idp, { smtp }, { oauthTokenData: seededToken(idp, { validForMs: -1000 }) });
		const out = await runSend(store, [{ json: {} }], {});
		expect(out.error).toBeUndefined();
		expect(idp.tokenRequests.map((r) => r.status)).toEqual([429, 200]);
		const gap = idp.tokenRequests[1].at - idp.tokenRequests[0].at;
		expect(gap).toBeGreaterThanOrEqual(900);
		expect(smtp.messages).toHaveLength(1);
	});

	it('still throttled: says it is temporary, nothing sent, no setup advice', async () => {
		idp.failNext(2, throttled);
		const store = storeWith(idp, { smtp }, { oauthTokenData: seededToken(idp, { validForMs: -1000 }) });
		const out = await runSend(store, [{ json: {} }], {}, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'AADSTS50196', hint: expect.stringMatching(/temporary and nothing was sent/) });
		expect(String(out.items[0].json.hint)).not.toMatch(/tenant, client ID, secret and scopes/);
		expect(idp.tokenRequests).toHaveLength(2);
		expect(smtp.connections).toBe(0);
	});
});

describe('IMAP NO [UNAVAILABLE] is temporary', () => {
	it('retries once without spending a token refresh', async () => {
		sharedBox.unavailableNext(1);
		const run = await runVerify(sharedCredential(ALICE), { checks: ['imap'] });
		expect(run.verification()).toMatchObject({ status: 'Verified' });
		expect(sharedBox.logins.map((l) => l.ok)).toEqual([false, true]);
		expect(idp.tokenRequests).toHaveLength(0);
	});

	it('still unavailable: IMAP_TEMPORARY_FAILURE in words that say so, no permission hint, no refresh', async () => {
		sharedBox.unavailableNext(2);
		const run = await runVerify(sharedCredential(ALICE), { checks: ['imap'] });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', code: 'IMAP_TEMPORARY_FAILURE' });
		expect(String(run.verification().reason)).toMatch(/temporary/);
		expect(String(run.verification().hint)).not.toMatch(/Add-MailboxPermission|Full Access/);
		expect(idp.tokenRequests).toHaveLength(0);
	});
});

describe('IMAP security: implicit TLS or STARTTLS', () => {
	let plain: ImapServer;
	beforeAll(async () => {
		plain = await startImapServer({ idp, mailbox: ALICE, starttls: true });
	});
	afterAll(async () => await plain.stop());

	it('STARTTLS (required) on a STARTTLS port is Verified', async () => {
		const run = await runVerify(storeWith(idp, { imap: plain }, { imapSecurity: 'starttls' }), { checks: ['imap'] });
		expect(run.verification()).toMatchObject({ status: 'Verified' });
		expect(String(run.check('imap').detail)).toMatch(/after STARTTLS/);
	});

	it('implicit TLS on a STARTTLS port is a port/security mismatch, not a certificate problem', async () => {
		const run = await runVerify(storeWith(idp, { imap: plain }, { imapSecurity: 'tls' }), { checks: ['imap'] });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', code: 'TLS_PORT_MISMATCH' });
		expect(String(run.verification().hint)).toMatch(/Set IMAP Security to STARTTLS/);
		expect(String(run.verification().hint)).not.toMatch(/Trusted CA/);
	});

	it('STARTTLS on an implicit-TLS port is a mismatch, told within the check timeout (not a firewall timeout)', async () => {
		const started = Date.now();
		const run = await runVerify(storeWith(idp, { imap: sharedBox }, { mailbox: SHARED, imapSecurity: 'starttls', oauthTokenData: seededToken(idp, { user: ALICE }) }), { checks: ['imap'], checkTimeout: 4 });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', code: 'TLS_PORT_MISMATCH' });
		expect(String(run.verification().hint)).toMatch(/Set IMAP Security to TLS \(implicit\)/);
		expect(Date.now() - started).toBeLessThan(8000);
	});
});
