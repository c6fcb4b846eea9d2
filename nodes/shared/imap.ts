/**
 * The only file that imports imapflow. Logs in with XOAUTH2 (or OAUTHBEARER where the server
 * prefers it) from the execution's TokenSession; retries once with a refreshed token when the
 * server rejects it. The caller closes the client in `finally`.
 */
import { ImapFlow } from 'imapflow';

import { DEFAULT_TIMEOUTS } from './constants';
import { MailError, describeImapError, type ImapErrorLike } from './errors';
import type { TokenSession } from './token';

export interface ImapOptions {
	connectTimeoutMs?: number;
	greetingTimeoutMs?: number;
	socketTimeoutMs?: number;
}

function asImapError(e: unknown): ImapErrorLike {
	if (e instanceof Error) return e as Error & ImapErrorLike;
	return { message: String(e) };
}

function isAuthRejection(e: unknown): boolean {
	const err = asImapError(e);
	return err.authenticationFailed === true || err.serverResponseCode === 'AUTHENTICATIONFAILED';
}

export type ImapConnection = ImapFlow;

export async function connectImap(session: TokenSession, options: ImapOptions = {}): Promise<ImapFlow> {
	const attempt = async (accessToken: string): Promise<ImapFlow> => {
		const { imap, tls } = session.settings;
		const client = new ImapFlow({
			host: imap.host,
			port: imap.port,
			secure: true,
			auth: { user: session.user, accessToken },
			tls: { rejectUnauthorized: tls.rejectUnauthorized, ca: tls.ca, minVersion: 'TLSv1.2', servername: imap.host },
			logger: false,
			connectionTimeout: options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectMs,
			greetingTimeout: options.greetingTimeoutMs ?? DEFAULT_TIMEOUTS.greetingMs,
			socketTimeout: options.socketTimeoutMs ?? DEFAULT_TIMEOUTS.socketMs,
			emitLogs: false,
			disableAutoIdle: true,
		});
		// imapflow emits 'error' on socket faults; without a listener Node would throw.
		client.on('error', () => undefined);
		try {
			await client.connect();
			return client;
		} catch (e) {
			client.close();
			throw e;
		}
	};
	try {
		return await attempt(session.accessToken);
	} catch (e) {
		if (!isAuthRejection(e) || session.renewedAfterRejection) throw explainImapError(session, e);
		const token = await session.renewAfterRejection();
		try {
			return await attempt(token);
		} catch (again) {
			throw explainImapError(session, again);
		}
	}
}

export function explainImapError(session: TokenSession, e: unknown): MailError {
	if (e instanceof MailError) return e;
	const failure = describeImapError(asImapError(e));
	return new MailError({
		...failure,
		message: session.redact(failure.message),
		serverResponse: failure.serverResponse && session.redact(failure.serverResponse),
	});
}
