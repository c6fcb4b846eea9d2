// Proves the real mail stack (test/stack/mailstack.sh): a token from the test IdP sends mail through
// Postfix with XOAUTH2, the message is found over IMAP on both Dovecot endpoints, and bad,
// expired and foreign tokens or a forbidden sender are refused the way clients will see it.
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { BENCH_IMAP_LOGIN, ensureMailStack, IdpAdmin, mailStackConfig, stopMailStack } from '../stack/mailstack';

const stack = mailStackConfig();
const admin = new IdpAdmin(stack.idpUrl);
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const SHARED = 'shared@example.test';
const SCOPE = 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access';
const tag = `stack-${Date.now().toString(36)}`;

// testTimeout in a jest project entry is ignored (it is a global option), so set it here
jest.setTimeout(60_000);

let ca: Buffer;
let startedHere = false;

beforeAll(async () => {
	startedHere = await ensureMailStack(stack);
	ca = readFileSync(stack.caPath);
}, 120_000);

afterAll(() => {
	if (startedHere && !process.env.MAILSTACK_KEEP) stopMailStack();
});

async function tokenFor(user: string, expiresIn?: number): Promise<string> {
	return (await admin.issueTokens({ clientId: stack.client.clientId, user, scope: SCOPE, expiresIn })).access_token;
}

type SmtpAuth = { type: 'OAuth2'; user: string; accessToken?: string; clientId?: string; clientSecret?: string; refreshToken?: string; accessUrl?: string };

function smtp(port: number, secure: boolean, auth: SmtpAuth) {
	return nodemailer.createTransport({ host: '127.0.0.1', port, secure, requireTLS: !secure, tls: { ca }, auth });
}

function imap(port: number, secure: boolean, user: string, accessToken: string): ImapFlow {
	return new ImapFlow({ host: '127.0.0.1', port, secure, doSTARTTLS: secure ? undefined : true, tls: { ca }, auth: { user, accessToken }, logger: false });
}

/** Mail is delivered asynchronously by the Postfix queue: poll INBOX for the subjects. */
async function findSubjects(client: ImapFlow, subjects: string[], timeoutMs = 15_000): Promise<string[]> {
	const lock = await client.getMailboxLock('INBOX');
	try {
		const started = Date.now();
		for (;;) {
			await client.noop();
			const found: string[] = [];
			const uids = await client.search({ subject: tag }, { uid: true });
			if (uids && uids.length > 0) {
				for await (const m of client.fetch(uids, { envelope: true }, { uid: true })) found.push(m.envelope?.subject ?? '');
			}
			if (subjects.every((s) => found.includes(s)) || Date.now() - started > timeoutMs) return found;
			await new Promise((r) => setTimeout(r, 250));
		}
	} finally {
		lock.release();
	}
}

/** The IMAP greeting, which Dovecot sends with its pre-login CAPABILITY list. */
function greeting(port: number): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => undefined);
		socket.setEncoding('utf8');
		socket.once('data', (line: string) => {
			socket.destroy();
			resolve(line);
		});
		socket.once('error', reject);
	});
}

describe('round trip: IdP token -> Postfix (XOAUTH2) -> Maildir -> Dovecot IMAP', () => {
	const subjects = { starttls: `${tag} starttls`, implicit: `${tag} implicit` };

	it('sends with a refreshed token over STARTTLS and with an access token over implicit TLS', async () => {
		const seeded = await admin.issueTokens({ clientId: stack.client.clientId, user: ALICE, scope: SCOPE });
		const viaRefresh = smtp(stack.ports.submission, false, {
			type: 'OAuth2',
			user: ALICE,
			clientId: stack.client.clientId,
			clientSecret: stack.client.clientSecret,
			refreshToken: seeded.refresh_token,
			accessUrl: stack.tokenUrl,
		});
		const info = await viaRefresh.sendMail({ from: ALICE, to: ALICE, subject: subjects.starttls, text: 'round trip' });
		expect(info.response).toMatch(/^250 /);
		expect(await admin.tokenRequests()).toContainEqual(expect.objectContaining({ grantType: 'refresh_token', status: 200 }));
		viaRefresh.close();

		const implicit = smtp(stack.ports.smtps, true, { type: 'OAuth2', user: ALICE, accessToken: await tokenFor(ALICE) });
		await expect(implicit.sendMail({ from: ALICE, to: ALICE, subject: subjects.implicit, text: 'round trip' })).resolves.toMatchObject({ accepted: [ALICE] });
		implicit.close();
	});

	it.each([
		['full endpoint, implicit TLS (OAUTHBEARER)', () => stack.ports.imaps, true],
		['m365-like endpoint, STARTTLS (XOAUTH2 only)', () => stack.ports.m365Imap, false],
	])('finds the messages over IMAP on the %s', async (_name, port, secure) => {
		const client = imap(port(), secure, ALICE, await tokenFor(ALICE));
		await client.connect();
		try {
			expect(await findSubjects(client, Object.values(subjects))).toEqual(expect.arrayContaining(Object.values(subjects)));
		} finally {
			await client.logout();
		}
	});
});

/** EHLO on the plain relay port; Postfix shares main.cf limits with the submission ports. */
function ehlo(port: number): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = tcpConnect({ host: '127.0.0.1', port });
		let text = '';
		socket.setEncoding('utf8');
		socket.on('data', (chunk: string) => {
			text += chunk;
			if (/^220 /m.test(text) && !text.includes('EHLO-SENT')) {
				text += 'EHLO-SENT\n';
				socket.write('EHLO test.example\r\n');
			} else if (/^250 /m.test(text)) {
				socket.end('QUIT\r\n');
				resolve(text);
			}
		});
		socket.once('error', reject);
	});
}

describe('endpoint shape', () => {
	it('limits messages to 35 MB like Exchange Online', async () => {
		expect(await ehlo(stack.ports.smtpRelay)).toContain('250-SIZE 36700160');
	});

	it('offers only AUTH=XOAUTH2 on the m365-like endpoint, both mechanisms on the full one', async () => {
		const m365 = await greeting(stack.ports.m365Imaps);
		expect(m365).toContain('AUTH=XOAUTH2');
		expect(m365).not.toContain('AUTH=OAUTHBEARER');
		const full = await greeting(stack.ports.imaps);
		expect(full).toContain('AUTH=XOAUTH2');
		expect(full).toContain('AUTH=OAUTHBEARER');
	});

	it('reports a 50 MB quota', async () => {
		const client = imap(stack.ports.m365Imaps, true, ALICE, await tokenFor(ALICE));
		await client.connect();
		try {
			expect(client.capabilities.has('QUOTA')).toBe(true);
			const quota = await client.getQuota('INBOX');
			expect(quota && quota.storage ? quota.storage.limit : undefined).toBe(50 * 1024 * 1024);
		} finally {
			await client.logout();
		}
	});
});

describe("the benchmark's password port (n8n's Email Trigger cannot do OAuth)", () => {
	const withPassword = (port: number, user: string, pass: string) => new ImapFlow({ host: '127.0.0.1', port, secure: true, tls: { ca }, auth: { user, pass }, logger: false });

	it('takes the bench password for the bench mailbox on its own port only', async () => {
		const bench = withPassword(stack.ports.benchImaps, BENCH_IMAP_LOGIN.user, BENCH_IMAP_LOGIN.password);
		await bench.connect();
		await bench.logout();
		const refusals: Array<[number, string, string]> = [
			[stack.ports.benchImaps, ALICE, BENCH_IMAP_LOGIN.password],
			[stack.ports.benchImaps, BENCH_IMAP_LOGIN.user, 'wrong-password'],
			[stack.ports.m365Imaps, BENCH_IMAP_LOGIN.user, BENCH_IMAP_LOGIN.password],
			[stack.ports.imaps, BENCH_IMAP_LOGIN.user, BENCH_IMAP_LOGIN.password],
		];
		for (const [port, user, pass] of refusals) {
			const client = withPassword(port, user, pass);
			client.on('error', () => undefined);
			await expect(client.connect()).rejects.toMatchObject({ authenticationFailed: true });
		}
	});

	it('leaves the OAuth endpoints without any password mechanism', async () => {
		for (const port of [stack.ports.m365Imaps, stack.ports.imaps]) expect(await greeting(port)).not.toMatch(/AUTH=(PLAIN|LOGIN)/);
		const bench = await greeting(stack.ports.benchImaps);
		expect(bench).toContain('AUTH=PLAIN');
		expect(bench).not.toContain('AUTH=XOAUTH2');
	});
});

describe('refusals', () => {
	const cases: Array<[string, () => Promise<string>]> = [
		['a malformed token', async () => 'not-a-token'],
		['an expired token', () => tokenFor(ALICE, -60)],
		["another user's token", () => tokenFor(BOB)],
	];

	it.each(cases)('SMTP refuses %s with 535 (EAUTH)', async (_name, token) => {
		const transport = smtp(stack.ports.submission, false, { type: 'OAuth2', user: ALICE, accessToken: await token() });
		await expect(transport.sendMail({ from: ALICE, to: ALICE, subject: `${tag} refused`, text: 'x' })).rejects.toMatchObject({ code: 'EAUTH', responseCode: 535 });
		transport.close();
	});

	it.each(cases)('IMAP refuses %s on both endpoints', async (_name, token) => {
		const accessToken = await token();
		for (const [port, secure] of [[stack.ports.imaps, true], [stack.ports.m365Imaps, true]] as const) {
			const client = imap(port, secure, ALICE, accessToken);
			client.on('error', () => undefined);
			await expect(client.connect()).rejects.toMatchObject({ authenticationFailed: true });
		}
	});

	it('lets alice send as the shared mailbox but not as bob (5.7.x)', async () => {
		const transport = smtp(stack.ports.submission, false, { type: 'OAuth2', user: ALICE, accessToken: await tokenFor(ALICE) });
		try {
			await expect(transport.sendMail({ from: SHARED, to: ALICE, subject: `${tag} send-as shared`, text: 'x' })).resolves.toMatchObject({ accepted: [ALICE] });
			const refused = transport.sendMail({ from: BOB, to: ALICE, subject: `${tag} send-as bob`, text: 'x' });
			await expect(refused).rejects.toMatchObject({ code: 'EENVELOPE', responseCode: 553 });
			await expect(refused).rejects.toMatchObject({ response: expect.stringMatching(/5\.7\.\d.*not owned by user alice@example\.test/) });
		} finally {
			transport.close();
		}
	});
});

describe('app-only token (client credentials)', () => {
	it('opens the first app mailbox and nothing else', async () => {
		const res = await fetch(stack.tokenUrl, {
			method: 'POST',
			body: new URLSearchParams({ grant_type: 'client_credentials', client_id: stack.client.clientId, client_secret: stack.client.clientSecret, scope: 'https://outlook.office365.com/.default' }),
		});
		const body: unknown = await res.json();
		const accessToken = typeof body === 'object' && body !== null && 'access_token' in body ? String(body.access_token) : '';
		const mailbox = stack.client.appMailboxes?.[0] ?? 'reports@example.test';
		const own = imap(stack.ports.m365Imaps, true, mailbox, accessToken);
		await own.connect();
		await own.logout();
		const other = imap(stack.ports.m365Imaps, true, ALICE, accessToken);
		other.on('error', () => undefined);
		await expect(other.connect()).rejects.toMatchObject({ authenticationFailed: true });
	});
});
