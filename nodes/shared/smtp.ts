/**
 * The only file that imports nodemailer. One pooled transport per execution, authenticated with
 * XOAUTH2 from the execution's TokenSession, closed by the caller in `finally`.
 */
import nodemailer from 'nodemailer';
import type { SendMailOptions, Transporter } from 'nodemailer';
import type { SMTPPoolOptions, SMTPPoolSentMessageInfo } from 'nodemailer/lib/smtp-pool';

import { DEFAULT_TIMEOUTS, EXCHANGE_LIMITS } from './constants';
import { MailError, describeSmtpError, isSmtpErrorLike } from './errors';
import type { TokenSession } from './token';

export type SentInfo = SMTPPoolSentMessageInfo;
export type MailOptions = SendMailOptions;

export interface SmtpOptions {
	/** Parallel connections (Exchange Online refuses more than 3 per mailbox). */
	maxConnections?: number;
	connectTimeoutMs?: number;
	greetingTimeoutMs?: number;
	socketTimeoutMs?: number;
}

function isAuthRejection(e: unknown): boolean {
	if (!isSmtpErrorLike(e)) return false;
	const { code, responseCode } = e as { code?: string; responseCode?: number };
	return code === 'EAUTH' && (responseCode === 535 || responseCode === 534 || responseCode === undefined);
}

export class SmtpClient {
	private transport?: Transporter<SentInfo, SMTPPoolOptions>;

	constructor(
		private readonly session: TokenSession,
		private readonly options: SmtpOptions = {},
	) {}

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
			tls: { rejectUnauthorized: tls.rejectUnauthorized, ca: tls.ca, minVersion: 'TLSv1.2', servername: smtp.host },
			auth: { type: 'OAuth2', user: this.session.user, accessToken: this.session.accessToken },
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
		this.transport = transport;
		return transport;
	}

	/** Closes every pooled connection. Safe to call more than once. */
	close(): void {
		this.transport?.close();
		this.transport = undefined;
	}

	/** Runs `work` once; if the server rejected the token, refreshes it once and runs it once more. */
	private async withAuthRetry<T>(work: (t: Transporter<SentInfo, SMTPPoolOptions>) => Promise<T>): Promise<T> {
		try {
			return await work(this.open());
		} catch (e) {
			if (!isAuthRejection(e) || this.session.renewedAfterRejection) throw this.explain(e);
			this.close();
			await this.session.renewAfterRejection();
			try {
				return await work(this.open());
			} catch (again) {
				throw this.explain(again);
			}
		}
	}

	/** Connects, negotiates TLS and logs in; sends nothing. */
	async verify(): Promise<void> {
		await this.withAuthRetry(async (t) => {
			await t.verify();
		});
	}

	async send(mail: MailOptions): Promise<SentInfo> {
		return await this.withAuthRetry(async (t) => await t.sendMail(mail));
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
