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

import nodemailer from 'nodemailer';
import type { SendMailOptions, Transporter } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { SMTPPoolOptions, SMTPPoolSentMessageInfo } from 'nodemailer/lib/smtp-pool';

import { DEFAULT_TIMEOUTS, EXCHANGE_LIMITS, SMTP_RETRY } from './constants';
import { MailError, describeSmtpError, isSmtpErrorLike, outcomeUnknownFailure, portSecurityMismatch, sendAsFailure } from './errors';
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
	/** Injectable for tests. */
	clock?: { now(): number; sleep(ms: number): Promise<void> };
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

function isAuthRejection(e: unknown): boolean {
	if (!isSmtpErrorLike(e)) return false;
	const { code, responseCode, response } = e as { code?: string; responseCode?: number; response?: string };
	// 5.7.139 (SMTP AUTH disabled) is a mailbox setting: a new token cannot fix it.
	if (typeof response === 'string' && /\b5\.7\.139\b/.test(response)) return false;
	return code === 'EAUTH' && (responseCode === 535 || responseCode === 534 || responseCode === undefined);
}

export class SmtpClient {
	private transport?: Transporter<SentInfo, SMTPPoolOptions>;

	/** Message-IDs whose source nodemailer has read to the end (the data is on the wire). */
	private readonly dataSent = new Set<string>();

	private readonly pacer: Pacer;

	constructor(
		private readonly session: TokenSession,
		private readonly options: SmtpOptions = {},
	) {
		this.pacer = new Pacer(options.messagesPerMinute ?? 0, options.clock ?? realClock);
	}

	private open(): Transporter<SentInfo, SMTPPoolOptions> {
		if (this.transport) return this.transport;
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
		this.transport = transport;
		return transport;
	}

	/** The account SMTP AUTH logs in as (delegated: the signed-in account; app-only: the mailbox). */
	get loggedInAs(): string {
		return this.session.smtpUser;
	}

	/** Closes every pooled connection. Safe to call more than once. */
	close(): void {
		this.transport?.close();
		this.transport = undefined;
	}

	/** Runs `work` once; if the server rejected the token, refreshes it once and runs it once more. */
	private async withAuthRetry<T>(work: (t: Transporter<SentInfo, SMTPPoolOptions>) => Promise<T>): Promise<T> {
		try {
			return await this.withAuthRenewal(work);
		} catch (e) {
			throw await this.diagnose(e);
		}
	}

	/** As `withAuthRetry`, but lets nodemailer's own error through (it says how far the send got). */
	private async withAuthRenewal<T>(work: (t: Transporter<SentInfo, SMTPPoolOptions>) => Promise<T>): Promise<T> {
		const first = await work(this.open()).then(
			(value) => ({ value }),
			(error: unknown) => ({ error }),
		);
		if ('value' in first) return first.value;
		if (!isAuthRejection(first.error) || this.session.renewedAfterRejection) throw first.error;
		this.close();
		await this.session.renewAfterRejection();
		return await work(this.open());
	}

	/** Connects, negotiates TLS and logs in; sends nothing. */
	async verify(): Promise<void> {
		await this.withAuthRetry(async (t) => {
			await t.verify();
		});
	}

	async send(mail: MailOptions): Promise<SentInfo> {
		try {
			return await this.withAuthRenewal(async (t) => await t.sendMail(mail));
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
		for (let attempt = 1; ; attempt++) {
			const mail = await build();
			const id = typeof mail.messageId === 'string' ? mail.messageId : '';
			this.dataSent.delete(id);
			await this.pacer.wait();
			const sent = await this.withAuthRenewal(async (t) => await t.sendMail(mail)).then(
				(info) => ({ info }),
				(error: unknown) => ({ error }),
			);
			const dataWentOut = id !== '' && this.dataSent.has(id);
			this.dataSent.delete(id);
			if ('info' in sent) return { info: sent.info, attempts: attempt };
			const failure = (await this.diagnose(sent.error, senderOf(mail))).failure;
			if (dataWentOut && !hasServerReply(sent.error)) throw new MailError(outcomeUnknownFailure(failure));
			if (!failure.retryable || attempt > policy.attempts) throw new MailError(failure);
			await clock.sleep(backoffMs(attempt, policy));
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
