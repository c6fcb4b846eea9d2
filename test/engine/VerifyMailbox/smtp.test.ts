/**
 * Verify Mailbox with SMTP and the round trip: the in-process SMTP server (smtp-server) delivers
 * into the in-process IMAP server (hoodiecrow); both check tokens against the test IdP.
 */
import type { Idp } from '../../stack/idp';
import { startImapServer, type ImapServer } from '../../support/imap-server';
import { startSmtpServer, type SmtpFixture } from '../../support/smtp-server';
import { USER, deliverInto, runVerify, startTestIdp, storeWith } from './fixture';

let idp: Idp;
let imap: ImapServer;
let smtp: SmtpFixture;
let stopDelivery: () => void;
beforeAll(async () => {
	idp = await startTestIdp();
	imap = await startImapServer({ idp, mailbox: USER });
	smtp = await startSmtpServer({ idp });
	stopDelivery = deliverInto(smtp, imap);
});
afterAll(async () => {
	stopDelivery();
	await smtp.stop();
	await imap.stop();
	await idp.stop();
});
beforeEach(() => {
	idp.reset();
	smtp.reset();
});

describe('Verify Mailbox over SMTP', () => {
	it('is Verified when SMTP and IMAP both accept the token, and sends nothing', async () => {
		const run = await runVerify(storeWith(idp, { imap, smtp }));
		expect(run.verification()).toMatchObject({ status: 'Verified', hosts: { smtp: `127.0.0.1:${smtp.port}`, imap: `127.0.0.1:${imap.port}` } });
		expect(run.check('smtp')).toMatchObject({ status: 'ok' });
		expect(String(run.check('smtp').detail)).toMatch(/STARTTLS and XOAUTH2; nothing was sent/);
		expect(smtp.authAttempts).toEqual([{ user: USER, ok: true }]);
		expect(smtp.messages).toHaveLength(0);
	});

	it('names SMTP and tells how to enable SMTP AUTH when Exchange answers 535 5.7.139', async () => {
		smtp.failNext('auth', { code: 535, text: '5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.' }, 2);
		const run = await runVerify(storeWith(idp, { imap, smtp }));
		const v = run.verification();
		expect(v).toMatchObject({ status: 'Not Verified', failedCheck: 'smtp', code: 'SMTP_AUTH_DISABLED' });
		expect(String(v.reason)).toMatch(/SmtpClientAuthentication is disabled/);
		expect(String(v.hint)).toMatch(/Set-CASMailbox -Identity alice@example.test -SmtpClientAuthenticationDisabled \$false/);
		// IMAP still runs, so the user sees every closed gate at once.
		expect(run.check('imap')).toMatchObject({ status: 'ok' });
	});

	it('a server reply quoting access_token="..." is masked in place: Not Verified, not a crash', async () => {
		smtp.failNext('auth', { code: 535, text: '5.7.3 Authentication unsuccessful access_token="server-quoted-value" refused' }, 2);
		const run = await runVerify(storeWith(idp, { imap, smtp }), { checks: ['smtp'], failWhenNotVerified: false });
		expect(run.result.error('Verify')).toBeUndefined();
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'smtp', code: 'SMTP_AUTH_REJECTED' });
		expect(String(run.check('smtp').serverResponse)).toContain('access_token="[redacted]"');
		expect(JSON.stringify(run.verification())).not.toContain('server-quoted-value');
	});

	it('fails the workflow instead when the option asks for it', async () => {
		smtp.failNext('auth', { code: 535, text: '5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.' }, 2);
		const run = await runVerify(storeWith(idp, { imap, smtp }), { failWhenNotVerified: true });
		const error = run.result.error('Verify');
		expect(error?.message).toMatch(/Not Verified: the smtp check failed/);
		expect(error?.description).toMatch(/SmtpClientAuthenticationDisabled/);
	});
});

describe('Verify Mailbox round trip', () => {
	it('finds the probe by Message-ID and leaves no probe behind', async () => {
		const before = imap.messages().length;
		const run = await runVerify(storeWith(idp, { imap, smtp }), { checks: ['smtp', 'imap', 'roundTrip'], roundTripTimeout: 10 });
		expect(run.verification()).toMatchObject({ status: 'Verified' });
		expect(run.check('roundTrip')).toMatchObject({ status: 'ok' });
		expect(smtp.messages).toHaveLength(1);
		const probe = smtp.messages[0].raw.toString('utf8');
		expect(probe).toMatch(/^Subject: n8n Verify Mailbox probe/m);
		expect(probe).toMatch(/^Auto-Submitted: auto-generated/m);
		// Delivered, found and deleted: INBOX is as it was.
		expect(imap.messages()).toHaveLength(before);
		expect(imap.messages().some((m) => /Verify Mailbox probe/.test(m.raw))).toBe(false);
	});

	// A server of its own per case: the shared one's delivery pump counts messages across resets.
	async function roundTripBeside(uidplus: boolean) {
		const server = await startImapServer({ idp, mailbox: USER, uidplus });
		const stop = deliverInto(smtp, server);
		try {
			smtp.reset();
			const theirs = server.deliver('Message-ID: <theirs@example.test>\r\nSubject: flagged by another client\r\n\r\nkeep me\r\n', { flags: ['\\Deleted'] });
			const run = await runVerify(storeWith(idp, { imap: server, smtp }), { checks: ['smtp', 'imap', 'roundTrip'], roundTripTimeout: 10 });
			return { run, theirs: server.messages().find((m) => m.uid === theirs.uid), probe: server.messages().find((m) => /Verify Mailbox probe/.test(m.raw)) };
		} finally {
			stop();
			await server.stop();
		}
	}

	it('with UIDPLUS deletes only the probe (UID EXPUNGE): a message another client flagged \\Deleted stays', async () => {
		const { run, theirs, probe } = await roundTripBeside(true);
		expect(run.check('roundTrip')).toMatchObject({ status: 'ok', probeRemoval: 'expunged', detail: expect.stringMatching(/was deleted/) });
		expect(theirs?.flags).toContain('\\Deleted');
		expect(probe).toBeUndefined();
	});

	it('without UIDPLUS never expunges: the probe is only flagged \\Deleted, another client\'s \\Deleted message stays, and the output says so', async () => {
		const { run, theirs, probe } = await roundTripBeside(false);
		expect(run.verification()).toMatchObject({ status: 'Verified' });
		expect(run.check('roundTrip')).toMatchObject({ status: 'ok', probeRemoval: 'flagged', detail: expect.stringMatching(/flagged \\Deleted .*not expunged: the server lacks UIDPLUS/) });
		expect(theirs?.flags).toContain('\\Deleted');
		expect(probe?.flags).toContain('\\Deleted');
	});

	it('is Not Verified naming the round trip when the probe never arrives', async () => {
		stopDelivery();
		try {
			const started = Date.now();
			const run = await runVerify(storeWith(idp, { imap, smtp }), { checks: ['smtp', 'imap', 'roundTrip'], roundTripTimeout: 1 });
			expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'roundTrip', code: 'ROUND_TRIP_NOT_DELIVERED' });
			expect(String(run.verification().hint)).toMatch(/Junk Email/);
			expect(Date.now() - started).toBeLessThan(6000);
		} finally {
			stopDelivery = deliverInto({ messages: [] }, imap);
		}
	});

	it('is skipped when SMTP fails', async () => {
		smtp.failNext('auth', { code: 535, text: '5.7.3 Authentication unsuccessful' }, 2);
		const run = await runVerify(storeWith(idp, { imap, smtp }), { checks: ['smtp', 'imap', 'roundTrip'] });
		expect(run.verification()).toMatchObject({ failedCheck: 'smtp', code: 'SMTP_AUTH_REJECTED' });
		expect(run.check('roundTrip')).toMatchObject({ status: 'skipped', detail: 'Skipped: the SMTP check failed' });
	});
});

describe('Verify Mailbox with an unreachable SMTP server', () => {
	it('is Not Verified quickly when nothing listens on the SMTP port', async () => {
		const down = await startImapServer({ idp, mailbox: USER, mode: 'down' });
		const started = Date.now();
		const run = await runVerify(storeWith(idp, { imap, smtp: { port: down.port, ca: smtp.ca } }), { checks: ['smtp'], checkTimeout: 5 });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'smtp', code: 'CONNECTION_REFUSED' });
		expect(Date.now() - started).toBeLessThan(5000);
	});

	it('is Not Verified within the check timeout when the SMTP server stalls', async () => {
		const stall = await startImapServer({ idp, mailbox: USER, mode: 'stall' });
		const started = Date.now();
		const run = await runVerify(storeWith(idp, { imap, smtp: { port: stall.port, ca: smtp.ca } }), { checks: ['smtp'], checkTimeout: 2 });
		expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'smtp' });
		expect(String(run.verification().code)).toMatch(/TIMEOUT/);
		expect(Date.now() - started).toBeLessThan(4500);
		await stall.stop();
	});
});
