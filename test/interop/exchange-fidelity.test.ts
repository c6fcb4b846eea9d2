/**
 * Exchange Online's rules, against the real stack (Postfix submission with SASL through Dovecot,
 * Dovecot IMAP, the test IdP's directory): SMTP AUTH only as the signed-in UPN (never as a shared
 * mailbox, never as an address that differs from the UPN), IMAP as a shared mailbox only with Full
 * Access, From a shared mailbox only with Send As (Postfix smtpd_sender_login_maps). Then the package
 * against it: a shared-mailbox send and a Verified shared mailbox, missing permissions with the
 * commands filled in, the tenant, temporary failures and port/security mismatches.
 */
import { readFileSync } from 'node:fs';

import { ImapFlow } from 'imapflow';
import type { IDataObject, INodeParameters } from 'n8n-workflow';
import nodemailer from 'nodemailer';

import { runSend } from '../engine/SendReportEmail/fixture';
import { chain, runWorkflow, type CredentialStore } from '../support/engine';
import { ensureMailStack, stopMailStack } from '../stack/mailstack';
import { ALICE, BOB, CREDENTIAL, admin, stack, stackStore, stackTokens } from './fixture';

jest.setTimeout(90_000);

const SHARED = 'shared@example.test';
const CAROL_MAIL = 'carol@example.test';
const CAROL_UPN = 'carol.jones@corp.example.test';
const tag = `fidelity-${Date.now().toString(36)}`;
let startedHere = false;
let ca: Buffer;

beforeAll(async () => {
	startedHere = await ensureMailStack(stack);
	ca = readFileSync(stack.caPath);
}, 120_000);
afterAll(() => {
	if (startedHere && !process.env.MAILSTACK_KEEP) stopMailStack();
});
beforeEach(async () => await admin.reset());

/** The credential id Send Report Email's fixture workflow uses. */
const SEND_CREDENTIAL = { id: 'cred-1', name: 'M365 reports' };
const sendStore = (tokens: IDataObject, data: IDataObject = {}) => stackStore(tokens, data, SEND_CREDENTIAL);

async function accessToken(user: string): Promise<string> {
	return String((await stackTokens(user)).access_token);
}

async function smtpLogin(user: string, token: string): Promise<void> {
	const t = nodemailer.createTransport({ host: '127.0.0.1', port: stack.ports.submission, secure: false, requireTLS: true, tls: { ca }, auth: { type: 'OAuth2', user, accessToken: token } });
	try {
		await t.verify();
	} finally {
		t.close();
	}
}

async function imapLogin(user: string, token: string): Promise<void> {
	const c = new ImapFlow({ host: '127.0.0.1', port: stack.ports.m365Imaps, secure: true, tls: { ca }, auth: { user, accessToken: token }, logger: false });
	c.on('error', () => undefined);
	await c.connect();
	await c.logout();
}

async function verify(s: CredentialStore, checks: string[], options: INodeParameters = {}) {
	const { nodes, connections } = chain([{ json: {} }], {
		name: 'Verify',
		type: 'n8n-nodes-m365-mail.verifyMailbox',
		parameters: { checks, options: { checkTimeout: 10, roundTripTimeout: 30, ...options } },
		credentials: { microsoftMailOAuth2Api: CREDENTIAL },
	});
	const result = await runWorkflow({ nodes, connections, store: s });
	const json = result.output('Verify')[0].json;
	const check = (name: string) => (json.checks as IDataObject[]).find((c) => c.name === name) ?? {};
	return { json, check };
}

describe('the stack models Exchange Online', () => {
	it('refuses SMTP login as the shared mailbox with the delegate\'s token (535), even though alice has Send As', async () => {
		await expect(smtpLogin(SHARED, await accessToken(ALICE))).rejects.toMatchObject({ code: 'EAUTH', responseCode: 535 });
	});

	it('lets the delegate log in to SMTP as itself', async () => {
		await expect(smtpLogin(ALICE, await accessToken(ALICE))).resolves.toBeUndefined();
	});

	it('opens the shared mailbox over IMAP for a delegate with Full Access, not for one without', async () => {
		await expect(imapLogin(SHARED, await accessToken(ALICE))).resolves.toBeUndefined();
		await expect(imapLogin(SHARED, await accessToken(BOB))).rejects.toMatchObject({ authenticationFailed: true });
	});

	it('takes the UPN for SMTP, not the address, when they differ; IMAP opens the address', async () => {
		const token = await accessToken(CAROL_MAIL);
		await expect(smtpLogin(CAROL_MAIL, token)).rejects.toMatchObject({ responseCode: 535 });
		await expect(smtpLogin(CAROL_UPN, token)).resolves.toBeUndefined();
		await expect(imapLogin(CAROL_MAIL, token)).resolves.toBeUndefined();
	});

	it('lets nobody sign in as the shared mailbox (its account is disabled)', async () => {
		await expect(stackTokens(SHARED)).rejects.toThrow(/AADSTS50057/);
	});
});

describe('a shared mailbox through a delegate, with the package', () => {
	const sharedStore = async (user: string, extra: IDataObject = {}) => stackStore(await stackTokens(user), { mailbox: SHARED, ...extra });

	it('sends From the shared mailbox, SMTP logged in as the delegate', async () => {
		const out = await runSend(sendStore(await stackTokens(ALICE), { mailbox: SHARED }), [{ json: {} }], { to: BOB, subject: `${tag} from shared` });
		expect(out.error).toBeUndefined();
		expect(out.items[0].json).toMatchObject({ accepted: [BOB], loggedInAs: ALICE, envelope: { from: SHARED } });
	});

	it('is Verified: IMAP opens the shared mailbox, the round trip proves Send As', async () => {
		const v = await verify(await sharedStore(ALICE), ['smtp', 'imap', 'roundTrip']);
		expect(v.json).toMatchObject({ status: 'Verified', mailbox: SHARED });
		expect(v.check('smtp')).toMatchObject({ status: 'ok', loggedInAs: ALICE, mailbox: SHARED });
		expect(v.check('imap')).toMatchObject({ status: 'ok', loggedInAs: ALICE, mailbox: SHARED });
		expect(v.check('roundTrip')).toMatchObject({ status: 'ok', loggedInAs: ALICE, from: SHARED });
	});

	it('without Send As (carol): Not Verified at the round trip with Add-RecipientPermission filled in', async () => {
		const v = await verify(await sharedStore(CAROL_MAIL), ['smtp', 'imap', 'roundTrip']);
		expect(v.json).toMatchObject({ status: 'Not Verified', failedCheck: 'roundTrip', code: 'SMTP_SEND_AS_DENIED' });
		expect(String(v.json.hint)).toContain(`Add-RecipientPermission -Identity ${SHARED} -Trustee ${CAROL_UPN} -AccessRights SendAs`);
		expect(v.check('smtp')).toMatchObject({ status: 'ok', loggedInAs: CAROL_UPN });
	});

	it('without Full Access (bob): Not Verified at IMAP with Add-MailboxPermission filled in', async () => {
		const v = await verify(await sharedStore(BOB), ['imap']);
		expect(v.json).toMatchObject({ status: 'Not Verified', failedCheck: 'imap', code: 'IMAP_NO_FULL_ACCESS' });
		expect(String(v.json.hint)).toContain(`Add-MailboxPermission -Identity ${SHARED} -User ${BOB} -AccessRights FullAccess`);
	});

	it('carol (UPN differs) sends from her own address, SMTP logged in as her UPN', async () => {
		const out = await runSend(sendStore(await stackTokens(CAROL_MAIL), { mailbox: CAROL_MAIL }), [{ json: {} }], { to: ALICE, subject: `${tag} carol` });
		expect(out.error).toBeUndefined();
		expect(out.items[0].json).toMatchObject({ loggedInAs: CAROL_UPN, envelope: { from: CAROL_MAIL } });
	});
});

describe('the tenant', () => {
	const expired = async () => ({ ...(await stackTokens(ALICE)), n8n_expires_at: String(Date.now() - 1000) });

	it('a single-tenant app on /organizations: AADSTS50194, "enter your Directory (tenant) ID", nothing sent', async () => {
		const url = stack.tokenUrl.replace(/\/[^/]+\/oauth2\/v2\.0\/token$/, '/organizations/oauth2/v2.0/token');
		const out = await runSend(sendStore(await expired(), { tenantId: 'organizations', customTokenUrl: url }), [{ json: {} }], { to: BOB, subject: `${tag} org` }, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'AADSTS50194', hint: expect.stringMatching(/Enter your Directory \(tenant\) ID/) });
	});

	it('the tenant ID, as the README says: connects, refreshes and sends', async () => {
		const out = await runSend(sendStore(await expired(), { tenantId: 'test-tenant' }), [{ json: {} }], { to: BOB, subject: `${tag} tenant` });
		expect(out.error).toBeUndefined();
		expect(out.items[0].json).toMatchObject({ accepted: [BOB] });
	});
});

describe('temporary is temporary', () => {
	it('throttling at the sign-in service (429, AADSTS50196, Retry-After): waits, asks once more, sends', async () => {
		await admin.failNext(1, { status: 429, error: 'temporarily_unavailable', aadsts: 50196, retryAfter: 1 });
		const s = sendStore({ ...(await stackTokens(ALICE)), n8n_expires_at: String(Date.now() - 1000) });
		const out = await runSend(s, [{ json: {} }], { to: BOB, subject: `${tag} throttled` });
		expect(out.error).toBeUndefined();
		expect((await admin.tokenRequests()).map((r) => r.status)).toEqual([429, 200]);
	});

	it('Dovecot NO [UNAVAILABLE] (introspection down): retried once without a token refresh', async () => {
		await admin.failIntrospectNext(1);
		const v = await verify(stackStore(await stackTokens(ALICE)), ['imap']);
		expect(v.json).toMatchObject({ status: 'Verified' });
		expect(await admin.tokenRequests()).toHaveLength(0);
	});

	it('still unavailable: IMAP_TEMPORARY_FAILURE, no permission hint, no refresh', async () => {
		await admin.failIntrospectNext(10);
		const v = await verify(stackStore(await stackTokens(ALICE)), ['imap']);
		expect(v.json).toMatchObject({ status: 'Not Verified', code: 'IMAP_TEMPORARY_FAILURE' });
		expect(String(v.json.hint)).not.toMatch(/Add-MailboxPermission|Full Access/);
		expect(await admin.tokenRequests()).toHaveLength(0);
	});
});

describe('IMAP security and port/security mismatches (real Dovecot and Postfix)', () => {
	const aliceStore = async (data: IDataObject) => stackStore(await stackTokens(ALICE), data);

	it('IMAP STARTTLS (required) on Dovecot 143-style port is Verified', async () => {
		const v = await verify(await aliceStore({ imapPort: stack.ports.m365Imap, imapSecurity: 'starttls' }), ['imap']);
		expect(v.json).toMatchObject({ status: 'Verified' });
		expect(String(v.check('imap').detail)).toMatch(/after STARTTLS/);
	});

	it('IMAP implicit TLS on the STARTTLS port: TLS_PORT_MISMATCH, not a CA hint', async () => {
		const v = await verify(await aliceStore({ imapPort: stack.ports.m365Imap, imapSecurity: 'tls' }), ['imap']);
		expect(v.json).toMatchObject({ status: 'Not Verified', code: 'TLS_PORT_MISMATCH' });
		expect(String(v.json.hint)).toMatch(/Set IMAP Security to STARTTLS/);
		expect(String(v.json.hint)).not.toMatch(/Trusted CA/);
	});

	it('IMAP STARTTLS on the implicit-TLS port: TLS_PORT_MISMATCH within the check timeout, not a firewall timeout', async () => {
		const v = await verify(await aliceStore({ imapPort: stack.ports.m365Imaps, imapSecurity: 'starttls' }), ['imap'], { checkTimeout: 5 });
		expect(v.json).toMatchObject({ status: 'Not Verified', code: 'TLS_PORT_MISMATCH' });
		expect(String(v.json.hint)).toMatch(/Set IMAP Security to TLS \(implicit\)/);
	});

	it('SMTP implicit TLS on the STARTTLS port (587 style): TLS_PORT_MISMATCH', async () => {
		const v = await verify(await aliceStore({ smtpPort: stack.ports.submission, smtpSecurity: 'tls' }), ['smtp']);
		expect(v.json).toMatchObject({ status: 'Not Verified', code: 'TLS_PORT_MISMATCH' });
		expect(String(v.json.hint)).toMatch(/Set SMTP Security to STARTTLS/);
	});

	it('SMTP STARTTLS on the implicit-TLS port (465 style): TLS_PORT_MISMATCH, not a firewall timeout', async () => {
		const v = await verify(await aliceStore({ smtpPort: stack.ports.smtps, smtpSecurity: 'starttls' }), ['smtp'], { checkTimeout: 5 });
		expect(v.json).toMatchObject({ status: 'Not Verified', code: 'TLS_PORT_MISMATCH' });
		expect(String(v.json.hint)).toMatch(/Set SMTP Security to TLS \(implicit\)/);
	});

	it('a certificate problem stays a certificate problem (no CA given)', async () => {
		const v = await verify(await aliceStore({ customCa: '', imapSecurity: 'tls' }), ['imap']);
		expect(v.json).toMatchObject({ status: 'Not Verified', code: 'TLS_FAILED' });
		expect(String(v.json.hint)).toMatch(/Trusted CA/);
	});
});
