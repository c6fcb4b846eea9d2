/**
 * An in-process SMTP submission server that behaves like smtp.office365.com:587 closely enough
 * for node tests, with replies a test can script. Built on smtp-server (npm).
 *
 * ```ts
 * const smtp = await startSmtpServer({ idp });   // Exchange's rules, from the test IdP's directory
 * credentialData({ smtpHost: '127.0.0.1', smtpPort: smtp.port, customCa: smtp.ca, ... });
 * smtp.failNext('rcpt', { code: 452, text: '4.5.3 Too many recipients' });
 * smtp.dropAfterDataNext();            // take the whole message, then cut the line without answering
 * const mail = await smtp.parsed(0);   // mailparser's ParsedMail of the first message received
 * await smtp.stop();
 * ```
 *
 * Behaviour
 * - STARTTLS required before AUTH (self-signed certificate for 127.0.0.1/localhost; `ca` is its
 *   PEM, trust it through the credential's `customCa`). `secure: true` gives implicit TLS instead.
 * - AUTH XOAUTH2 only. With `idp`, Exchange's rule: the XOAUTH2 user must be the signed-in account's
 *   UPN (a shared mailbox, or the primary address of a user whose UPN differs, is refused), app-only
 *   tokens log in as an app mailbox. `verify(token, user)` replaces that check. A refusal is answered
 *   like Microsoft: `535 5.7.3 Authentication unsuccessful`, straight away (no 334 challenge).
 * - Send-as like Exchange Online: MAIL FROM must be the signed-in account's own address, an address
 *   it has Send As on in the IdP's directory, or one granted with `allowSendAs(user, address)`, else
 *   `550 5.7.60 SMTP; Client does not have permissions to send as this sender`.
 * - Accepted messages are kept in `messages` (raw bytes, envelope, user, time, session id).
 *
 * Scripting (each scripted reply is used once, in order, per stage)
 * - `failNext(stage, { code, text }, count = 1)`: the next `count` commands of that stage get this
 *   reply instead of success. Stages: `connect` (greeting; the server then hangs up), `auth`,
 *   `mail` (MAIL FROM), `rcpt` (RCPT TO), `data` (the reply after the final dot; nothing is stored).
 * - `dropAfterDataNext(count = 1)`: read the whole message, store it (flagged `dropped`: it may
 *   count as delivered), then destroy the connection without replying.
 * - `delayNext(stage, ms)`: answer that stage's next command after a pause.
 * - `echoAuthNext(count = 1)`: refuse the next `count` logins with a 535 that quotes the client's
 *   base64 XOAUTH2 string back (as some servers and proxies do), to prove it is masked.
 *
 * Observation
 * - `messages`, `authAttempts` ({ user, ok }), `connections` (total opened), `maxConcurrent`
 *   (most connections open at once), `commands` (stage log: { stage, at, session }).
 * - `waitForMessages(n, timeoutMs)`, `parsed(i)` (mailparser), `reset()` (clears scripts and logs).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

import type { Idp } from '../stack/idp';

export type Stage = 'connect' | 'auth' | 'mail' | 'rcpt' | 'data';

export interface ScriptedReply {
	code: number;
	/** Text after the code, e.g. `4.7.500 Server busy. Please try again later`. */
	text: string;
}

export interface ReceivedMessage {
	raw: Buffer;
	envelope: { mailFrom: string; rcptTo: string[] };
	user: string;
	session: string;
	at: number;
	/** The connection was cut after the message was read, before any reply. */
	dropped: boolean;
}

export interface SmtpServerOptions {
	/** Exchange's login and Send As rules from this IdP's directory. */
	idp?: Idp;
	/** Decides whether `token` is valid for `user`. Default: the IdP's SMTP rule, or any non-empty token. */
	verify?: (token: string, user: string) => boolean;
	/** Implicit TLS (port 465 style) instead of STARTTLS. */
	secure?: boolean;
	/** SIZE limit advertised and enforced, in bytes (default 150 MB). */
	size?: number;
}

export interface SmtpFixture {
	port: number;
	host: string;
	/** PEM of the self-signed certificate (its own CA). */
	ca: string;
	messages: ReceivedMessage[];
	authAttempts: Array<{ user: string; ok: boolean }>;
	commands: Array<{ stage: Stage; at: number; session: string }>;
	readonly connections: number;
	readonly maxConcurrent: number;
	failNext(stage: Stage, reply: ScriptedReply, count?: number): void;
	dropAfterDataNext(count?: number): void;
	delayNext(stage: Stage, ms: number): void;
	echoAuthNext(count?: number): void;
	allowSendAs(user: string, address: string): void;
	waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
	parsed(index: number): Promise<ParsedMail>;
	reset(): void;
	stop(): Promise<void>;
}

let certificate: { key: string; cert: string } | undefined;

/** One throwaway self-signed certificate per test process. */
export function fixtureCertificate(): { key: string; cert: string } {
	if (certificate) return certificate;
	const dir = mkdtempSync(path.join(tmpdir(), 'smtp-fixture-'));
	try {
		execFileSync('openssl', [
			'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'),
			'-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=localhost',
			'-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
			'-addext', 'basicConstraints=critical,CA:TRUE',
		], { stdio: 'ignore' });
		certificate = { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
		return certificate;
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

class ReplyError extends Error {
	constructor(readonly responseCode: number, text: string) {
		super(text);
	}
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<SmtpFixture> {
	const { key, cert } = fixtureCertificate();
	const scripts: Record<Stage, ScriptedReply[]> = { connect: [], auth: [], mail: [], rcpt: [], data: [] };
	const delays: Record<Stage, number[]> = { connect: [], auth: [], mail: [], rcpt: [], data: [] };
	const sendAs = new Map<string, Set<string>>();
	let drops = 0;
	let echoes = 0;
	let open = 0;
	let total = 0;
	let peak = 0;
	const { idp } = options;
	const verify = options.verify ?? (idp ? (token: string, user: string) => idp.verify(token, user, 'smtp').ok : (token: string) => token.length > 0);
	/** The token each authenticated session logged in with (for the Send As check). */
	const sessionTokens = new Map<string, string>();

	const fixture = {
		messages: [] as ReceivedMessage[],
		authAttempts: [] as Array<{ user: string; ok: boolean }>,
		commands: [] as Array<{ stage: Stage; at: number; session: string }>,
	};

	/** Logs the stage, waits for a scripted delay, and throws a scripted reply if one is queued. */
	async function step(stage: Stage, session: SMTPServerSession): Promise<void> {
		fixture.commands.push({ stage, at: Date.now(), session: session.id });
		const delay = delays[stage].shift();
		if (delay) await sleep(delay);
		const reply = scripts[stage].shift();
		if (reply) throw new ReplyError(reply.code, reply.text);
	}

	function answer(work: Promise<void>, callback: (err?: Error | null) => void): void {
		work.then(() => callback(), (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))));
	}

	const address = (a: SMTPServerAddress) => a.address.toLowerCase();

	const server: SMTPServer = new SMTPServer({
		secure: options.secure === true,
		key,
		cert,
		authMethods: ['XOAUTH2'],
		size: options.size ?? 150 * 1024 * 1024,
		logger: false,
		disableReverseLookup: true,
		banner: 'Microsoft ESMTP MAIL Service ready (test fixture)',
		onConnect(session, callback) {
			total++;
			open++;
			peak = Math.max(peak, open);
			answer(step('connect', session), callback);
		},
		onClose(session) {
			open--;
			sessionTokens.delete(session.id);
		},
		onAuth(auth, session, callback) {
			const user = auth.username ?? '';
			answer(
				step('auth', session).then(() => {
					if (echoes > 0) {
						echoes--;
						fixture.authAttempts.push({ user, ok: false });
						const sent = Buffer.from(`user=${user}\x01auth=Bearer ${auth.accessToken ?? ''}\x01\x01`).toString('base64');
						throw new ReplyError(535, `5.7.3 Authentication unsuccessful for ${sent}`);
					}
					const ok = auth.method === 'XOAUTH2' && verify(auth.accessToken ?? '', user);
					fixture.authAttempts.push({ user, ok });
					if (!ok) throw new ReplyError(535, '5.7.3 Authentication unsuccessful [test fixture]');
					sessionTokens.set(session.id, auth.accessToken ?? '');
				}),
				(err) => (err ? callback(err) : callback(null, { user })),
			);
		},
		onMailFrom(from, session, callback) {
			answer(
				step('mail', session).then(() => {
					const user = String(session.user ?? '').toLowerCase();
					const sender = address(from);
					const granted = idp !== undefined && idp.maySendAs(sessionTokens.get(session.id) ?? '', sender);
					if (sender !== user && !granted && !sendAs.get(user)?.has(sender))
						throw new ReplyError(550, '5.7.60 SMTP; Client does not have permissions to send as this sender');
				}),
				callback,
			);
		},
		onRcptTo(_to, session, callback) {
			answer(step('rcpt', session), callback);
		},
		onData(stream, session, callback) {
			const chunks: Buffer[] = [];
			stream.on('data', (c: Buffer) => chunks.push(c));
			stream.on('end', () => {
				const message: ReceivedMessage = {
					raw: Buffer.concat(chunks),
					envelope: {
						mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
						rcptTo: session.envelope.rcptTo.map((r) => r.address),
					},
					user: String(session.user ?? ''),
					session: session.id,
					at: Date.now(),
					dropped: false,
				};
				if (drops > 0) {
					drops--;
					message.dropped = true;
					fixture.messages.push(message);
					for (const c of server.connections) if (c.id === session.id) c._socket.destroy();
					return;
				}
				answer(
					step('data', session).then(() => {
						fixture.messages.push(message);
					}),
					callback,
				);
			});
		},
	});

	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => resolve());
	});
	server.on('error', () => undefined);
	const port = (server.server.address() as AddressInfo).port;

	return {
		port,
		host: '127.0.0.1',
		ca: cert,
		...fixture,
		get connections() {
			return total;
		},
		get maxConcurrent() {
			return peak;
		},
		failNext(stage, reply, count = 1) {
			for (let i = 0; i < count; i++) scripts[stage].push(reply);
		},
		dropAfterDataNext(count = 1) {
			drops += count;
		},
		delayNext(stage, ms) {
			delays[stage].push(ms);
		},
		echoAuthNext(count = 1) {
			echoes += count;
		},
		allowSendAs(user, sender) {
			const key = user.toLowerCase();
			sendAs.set(key, (sendAs.get(key) ?? new Set()).add(sender.toLowerCase()));
		},
		async waitForMessages(count, timeoutMs = 10_000) {
			const until = Date.now() + timeoutMs;
			while (fixture.messages.length < count) {
				if (Date.now() > until) throw new Error(`expected ${count} messages, got ${fixture.messages.length}`);
				await sleep(20);
			}
			return fixture.messages;
		},
		async parsed(index) {
			const m = fixture.messages[index];
			if (!m) throw new Error(`no message #${index} (got ${fixture.messages.length})`);
			return await simpleParser(m.raw);
		},
		reset() {
			for (const s of Object.keys(scripts) as Stage[]) {
				scripts[s].length = 0;
				delays[s].length = 0;
			}
			drops = 0;
			echoes = 0;
			total = 0;
			peak = open;
			fixture.messages.length = 0;
			fixture.authAttempts.length = 0;
			fixture.commands.length = 0;
		},
		async stop() {
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}
