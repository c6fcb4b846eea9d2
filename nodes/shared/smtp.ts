/**
 * The only file that imports nodemailer. One pooled transport per execution, authenticated with
 * XOAUTH2 from the execution's TokenSession, closed by the caller in `finally`.
 *
 * `deliver()` adds what a sending node needs on top of `send()`: pacing, bounded retries of
 * transient refusals, and honest reporting when the connection drops after the message was sent
 * (never resent). nodemailer does not say how far a failed send got, so a stream plugin notes
 * when a message's source was read to the end (the terminating dot follows it).
 */
import { isIP } from 'node:net';
import { Readable } from 'node:stream';

import nodemailer from 'nodemailer';
import type { SendMailOptions, Transporter } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { SMTPPoolOptions, SMTPPoolSentMessageInfo } from 'nodemailer/lib/smtp-pool';

import { DEFAULT_TIMEOUTS, EXCHANGE_LIMITS, SMTP_RETRY } from './constants';
import { MailError, describeSmtpError, isSmtpErrorLike, outcomeUnknownFailure, portSecurityMismatch, sendAsFailure, type MailFailure } from './errors';
import { isGreetingTimeout, speaksImplicitTls } from './tls-probe';
import type { TokenSession } from './token';

export type SentInfo = SMTPPoolSentMessageInfo;
export type MailOptions = SendMailOptions;

export interface SmtpOptions {
	/** Parallel connections (Exchange Online refuses more than 3 per mailbox). */
	maxConnections?: number;
	connectTimeoutMs?: number;
	greetingTimeoutMs?: number;
	socketTimeoutMs?: number;
	/** Messages started per minute, evenly spaced; 0 or undefined: no pacing. */
	messagesPerMinute?: number;
	/** Transient refusals (421, 432, 450-452, dropped connections before the data) are retried. */
	retry?: { attempts: number; baseDelayMs: number; maxDelayMs: number };
	/**
	 * Longest one message may take, all attempts included (default: connect + greeting timeouts +
	 * 4 socket timeouts). The socket timeout alone never fires against a server that trickles its
	 * replies a line at a time.
	 */
	messageDeadlineMs?: number;
	/** Injectable for tests. */
	clock?: { now(): number; sleep(ms: number): Promise<void> };
}

/** One pooled transport and the token its connections log in with. */
interface Generation {
	transport: Transporter<SentInfo, SMTPPoolOptions>;
	token: string;
	/** Sends using it that have not settled (or given up at their deadline). */
	inFlight: number;
	/** No new sends: closed as soon as the last one in flight is done. */
	retired: boolean;
}

export interface Delivery {
	info: SentInfo;
	/** Sends tried for this message (1 when it went through first time). */
	attempts: number;
}

const realClock = {
	now: () => Date.now(),
	sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

/** Spaces message starts evenly: at most `perMinute` starts in any minute, no bursts. */
export class Pacer {
	private next = 0;

	private readonly intervalMs: number;

	constructor(
		perMinute: number,
		private readonly clock: { now(): number; sleep(ms: number): Promise<void> } = realClock,
	) {
		this.intervalMs = perMinute > 0 ? 60_000 / perMinute : 0;
	}

	/** Resolves when the caller may start its send; the slot is reserved synchronously. */
	async wait(): Promise<void> {
		if (!this.intervalMs) return;
		const now = this.clock.now();
		const at = Math.max(now, this.next);
		this.next = at + this.intervalMs;
		if (at > now) await this.clock.sleep(at - now);
	}
}

/** Backoff before retry number `retry` (1-based): base, 2x base, 4x base... capped. */
export function backoffMs(retry: number, policy: { baseDelayMs: number; maxDelayMs: number }): number {
	return Math.min(policy.baseDelayMs * 2 ** (retry - 1), policy.maxDelayMs);
}

function hasServerReply(e: unknown): boolean {
	return isSmtpErrorLike(e) && typeof (e as { responseCode?: unknown }).responseCode === 'number';
}

/** Builds the exact RFC 5322 message nodemailer would send (for dry runs). */
export async function composeMessage(mail: MailOptions): Promise<Buffer> {
	return await new MailComposer({ ...mail, disableFileAccess: true, disableUrlAccess: true }).compile().build();
}

/** Closes what nodemailer did not read: an attachment stream left open holds a file of n8n's binary store. */
export function releaseStreams(mail: MailOptions): void {
	for (const a of mail.attachments ?? []) {
		const content: unknown = a.content;
		if (content instanceof Readable && !content.destroyed) content.destroy();
	}
}

class DeadlineError extends Error {
	constructor(readonly ms: number) {
		super(`no answer within the message deadline of ${Math.round(ms / 1000)} s`);
		this.name = 'DeadlineError';
	}
}

function deadlineFailure(ms: number): MailFailure {
	return {
		source: 'smtp',
		code: 'TIMEOUT',
		message: `The SMTP server did not finish the message within ${Math.round(ms / 1000)} s (it answers too slowly or not at all).`,
		hint: 'Check the SMTP host and port in the credential and the network path to it; a server that sends its replies a line at a time ends here too. The next run will try again.',
		retryable: false,
	};
}

function isAuthRejection(e: unknown): boolean {
	if (!isSmtpErrorLike(e)) return false;
	const { code, responseCode, response } = e as { code?: string; responseCode?: number; response?: string };
	// 5.7.139 (SMTP AUTH disabled) is a mailbox setting: a new token cannot fix it.
	if (typeof response === 'string' && /\b5\.7\.139\b/.test(response)) return false;
	return code === 'EAUTH' && (responseCode === 535 || responseCode === 534 || responseCode === undefined);
}

export class SmtpClient {
	private current?: Generation;

	private readonly generations = new Set<Generation>();

	/** Message-IDs whose source nodemailer has read to the end (the data is on the wire). */
	private readonly dataSent = new Set<string>();

	private readonly pacer: Pacer;

	constructor(
		private readonly session: TokenSession,
		private readonly options: SmtpOptions = {},
	) {
		this.pacer = new Pacer(options.messagesPerMinute ?? 0, options.clock ?? realClock);
	}

	/** The deadline of one message, all attempts included. */
	get messageDeadlineMs(): number {
		if (this.options.messageDeadlineMs) return this.options.messageDeadlineMs;
		const connect = this.options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectMs;
		const greeting = this.options.greetingTimeoutMs ?? DEFAULT_TIMEOUTS.greetingMs;
		const socket = this.options.socketTimeoutMs ?? DEFAULT_TIMEOUTS.socketMs;
		return connect + greeting + 4 * socket;
	}

	/**
	 * The transport for the session's current token. After a renewal the old transport takes no
	 * new sends: later ones open new connections that log in with the new token.
	 */
	private acquire(): Generation {
		let generation = this.current;
		if (!generation || generation.retired || generation.token !== this.session.accessToken) {
			if (generation) this.retire(generation);
			generation = { transport: this.createTransport(), token: this.session.accessToken, inFlight: 0, retired: false };
			this.generations.add(generation);
			this.current = generation;
		}
		generation.inFlight++;
		return generation;
	}

	private release(generation: Generation): void {
		generation.inFlight--;
		if (generation.retired && generation.inFlight <= 0) this.shut(generation);
	}

	private retire(generation: Generation): void {
		generation.retired = true;
		if (this.current === generation) this.current = undefined;
		if (generation.inFlight <= 0) this.shut(generation);
	}

	private shut(generation: Generation): void {
		// None of this execution's sends is waiting on it any more: a connection still busy is one a
		// send gave up on at its deadline (e.g. a server trickling its replies), so close that too.
		generation.transport.close({ force: true });
		this.generations.delete(generation);
	}

	private createTransport(): Transporter<SentInfo, SMTPPoolOptions> {
		const { smtp, tls, isMicrosoftSmtp } = this.session.settings;
		const maxConnections = Math.max(
			1,
			Math.min(this.options.maxConnections ?? EXCHANGE_LIMITS.maxConnections, isMicrosoftSmtp ? EXCHANGE_LIMITS.maxConnections : 50),
		);
		const transport = nodemailer.createTransport({
			pool: true,
			maxConnections,
			maxMessages: 100,
			// A message whose connection dropped mid-send may already be accepted: never resend it silently.
			maxRequeues: 0,
			host: smtp.host,
			port: smtp.port,
			secure: smtp.secure,
			requireTLS: !smtp.secure,
			tls: { rejectUnauthorized: tls.rejectUnauthorized, ca: tls.ca, minVersion: 'TLSv1.2', servername: isIP(smtp.host) ? undefined : smtp.host },
			auth: { type: 'OAuth2', user: this.session.smtpUser, accessToken: this.session.accessToken },
			connectionTimeout: this.options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectMs,
			greetingTimeout: this.options.greetingTimeoutMs ?? DEFAULT_TIMEOUTS.greetingMs,
			socketTimeout: this.options.socketTimeoutMs ?? DEFAULT_TIMEOUTS.socketMs,
			// Items must never make nodemailer read local files or fetch URLs.
			disableFileAccess: true,
			disableUrlAccess: true,
			logger: false,
		} satisfies SMTPPoolOptions);
		// Servers that answer a bad token with a 334 challenge make nodemailer ask for a renewed token.
		transport.set('oauth2_provision_cb', (_user, renew, callback) => {
			if (!renew) return callback(null, this.session.accessToken);
			this.session.renewAfterRejection().then(
				(token) => callback(null, token),
				(e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
			);
		});
		transport.use('stream', (mail, done) => {
			const id = typeof mail.data.messageId === 'string' ? mail.data.messageId : undefined;
			if (id)
				mail.message.processFunc((input) => {
					input.once('end', () => this.dataSent.add(id));
					return input;
				});
			done();
		});
		return transport;
	}

	/** The account SMTP AUTH logs in as (delegated: the signed-in account; app-only: the mailbox). */
	get loggedInAs(): string {
		return this.session.smtpUser;
	}

	/** Closes every pooled connection. Safe to call more than once. */
	close(): void {
		for (const generation of [...this.generations]) {
			generation.retired = true;
			this.shut(generation);
		}
		this.current = undefined;
	}

	/** Runs `work`; if the server rejected the token, renews it once and runs it once more. */
	private async withAuthRetry<T>(work: (t: Transporter<SentInfo, SMTPPoolOptions>) => Promise<T>): Promise<T> {
		try {
			return await this.withAuthRenewal(work, Date.now() + this.messageDeadlineMs);
		} catch (e) {
			throw await this.diagnose(e);
		}
	}

	/**
	 * As `withAuthRetry`, but lets nodemailer's own error through (it says how far the send got).
	 * A send refused with a token that was renewed meanwhile (by a parallel send of the same
	 * execution) runs again on a new connection with the new token; a send refused with the
	 * current token waits for the one renewal the session allows. Gives up at `deadline`.
	 */
	private async withAuthRenewal<T>(work: (t: Transporter<SentInfo, SMTPPoolOptions>) => Promise<T>, deadline: number): Promise<T> {
		for (;;) {
			const generation = this.acquire();
			const outcome = await this.beforeDeadline(work(generation.transport), deadline);
			if ('error' in outcome && outcome.error instanceof DeadlineError) {
				// The send may still hang on that transport: no new work goes there, and it is closed
				// once the sends still on it have finished or given up.
				this.release(generation);
				this.retire(generation);
				throw outcome.error;
			}
			this.release(generation);
			if ('value' in outcome) return outcome.value;
			if (!isAuthRejection(outcome.error)) throw outcome.error;
			this.retire(generation);
			if (generation.token === this.session.accessToken) {
				const renewed = await this.session.renewAfterRejection();
				// The renewed token itself was refused: a new token cannot help.
				if (renewed === generation.token) throw outcome.error;
			}
		}
	}

	private async beforeDeadline<T>(work: Promise<T>, deadline: number): Promise<{ value: T } | { error: unknown }> {
		let timer: NodeJS.Timeout | undefined;
		const left = deadline - Date.now();
		const expired = new Promise<{ error: unknown }>((resolve) => {
			timer = setTimeout(() => resolve({ error: new DeadlineError(this.messageDeadlineMs) }), Math.max(0, left));
		});
		const settled = work.then(
			(value) => ({ value }),
			(error: unknown) => ({ error }),
		);
		try {
			return await Promise.race([settled, expired]);
		} finally {
			clearTimeout(timer);
		}
	}

	/** Connects, negotiates TLS and logs in; sends nothing. */
	async verify(): Promise<void> {
		await this.withAuthRetry(async (t) => {
			await t.verify();
		});
	}

	async send(mail: MailOptions): Promise<SentInfo> {
		try {
			return await this.withAuthRenewal(async (t) => await t.sendMail(mail), Date.now() + this.messageDeadlineMs);
		} catch (e) {
			throw await this.diagnose(e, senderOf(mail));
		}
	}

	/**
	 * Sends one message: waits for its pacing slot, retries transient refusals with backoff, and
	 * never retries once the message data went out without an answer (outcome unknown).
	 * `build` is called per attempt so attachment streams are fresh; it must set `messageId`.
	 */
	async deliver(build: () => Promise<MailOptions>): Promise<Delivery> {
		const policy = this.options.retry ?? SMTP_RETRY;
		const clock = this.options.clock ?? realClock;
		// Counted from the first pacing slot: waiting for a slot is not the server's time.
		let deadline: number | undefined;
		for (let attempt = 1; ; attempt++) {
			const mail = await build();
			const id = typeof mail.messageId === 'string' ? mail.messageId : '';
			this.dataSent.delete(id);
			const sent = await this.pacer
				.wait()
				.then(async () => await this.withAuthRenewal(async (t) => await t.sendMail(mail), (deadline ??= Date.now() + this.messageDeadlineMs)))
				.then(
					(info) => ({ info }),
					(error: unknown) => ({ error }),
				)
				// A send that failed before reading its attachments leaves their files open otherwise.
				.finally(() => releaseStreams(mail));
			const dataWentOut = id !== '' && this.dataSent.has(id);
			this.dataSent.delete(id);
			if ('info' in sent) return { info: sent.info, attempts: attempt };
			const failure = (await this.diagnose(sent.error, senderOf(mail))).failure;
			if (dataWentOut && !hasServerReply(sent.error)) throw new MailError(outcomeUnknownFailure(failure));
			const backoff = backoffMs(attempt, policy);
			if (!failure.retryable || attempt > policy.attempts || Date.now() + backoff >= (deadline ?? 0)) throw new MailError(failure);
			await clock.sleep(backoff);
		}
	}

	/**
	 * As `explain`, and also: tells a STARTTLS client on an implicit-TLS port (no greeting) from a
	 * stalled server, and names the From address and the signed-in account when Send As is missing.
	 */
	async diagnose(e: unknown, from?: string): Promise<MailError> {
		const { smtp } = this.session.settings;
		if (!smtp.secure && isGreetingTimeout(e) && (await speaksImplicitTls(smtp.host, smtp.port)))
			return new MailError(portSecurityMismatch('smtp', smtp, isSmtpErrorLike(e) ? e.message : undefined));
		const explained = this.explain(e);
		if (explained.failure.code === 'TLS_PORT_MISMATCH') return new MailError(portSecurityMismatch('smtp', smtp, explained.failure.serverResponse));
		if (explained.failure.code !== 'SMTP_SEND_AS_DENIED') return explained;
		return new MailError(sendAsFailure(from ?? this.session.settings.mailbox, this.session.smtpUser, explained.failure));
	}

	/** Maps a nodemailer error to the catalogue, masking secrets. */
	explain(e: unknown): MailError {
		if (e instanceof MailError) return e;
		if (e instanceof DeadlineError) return new MailError(deadlineFailure(e.ms));
		const raw = isSmtpErrorLike(e) ? e : new Error(String(e));
		const failure = describeSmtpError(raw);
		return new MailError({
			...failure,
			message: this.session.redact(failure.message),
			serverResponse: failure.serverResponse && this.session.redact(failure.serverResponse),
		});
	}
}

/** The From address of a message (header From, else the envelope sender). */
function senderOf(mail: MailOptions): string | undefined {
	const pick = (v: MailOptions['from']): string | undefined => {
		if (!v) return undefined;
		if (typeof v === 'string') return /<([^>]+)>\s*$/.exec(v)?.[1] ?? v.trim();
		return Array.isArray(v) ? undefined : v.address;
	};
	return pick(mail.from) ?? (typeof mail.envelope?.from === 'string' ? mail.envelope.from : undefined);
}
