/**
 * The only file that imports imapflow. Logs in with XOAUTH2 (or OAUTHBEARER where the server
 * prefers it) from the execution's TokenSession; retries once with a refreshed token when the
 * server rejects it. The caller closes the client in `finally`.
 */
import { isIP } from 'node:net';

import { ImapFlow } from 'imapflow';

import { DEFAULT_TIMEOUTS } from './constants';
import { MailError, describeImapError, fullAccessFailure, portSecurityMismatch, type ImapErrorLike } from './errors';
import { isDelegate, jwtPayload } from './identity';
import { isGreetingTimeout, speaksImplicitTls } from './tls-probe';
import type { TokenSession } from './token';

export interface ImapOptions {
	connectTimeoutMs?: number;
	greetingTimeoutMs?: number;
	socketTimeoutMs?: number;
}

/** Socket errors come from Node's own realm, so `instanceof Error` is not a reliable test. */
function isImapErrorLike(e: unknown): e is ImapErrorLike {
	return typeof e === 'object' && e !== null && typeof Reflect.get(e, 'message') === 'string';
}

function asImapError(e: unknown): ImapErrorLike {
	return isImapErrorLike(e) ? e : { message: String(e) };
}

/** NO [UNAVAILABLE]: the server could not check the token right now. Not a refusal. */
function isTemporary(e: unknown): boolean {
	const err = asImapError(e);
	return err.serverResponseCode === 'UNAVAILABLE' || /\[UNAVAILABLE\]/i.test(`${err.response ?? ''} ${err.responseText ?? ''}`);
}

function isAuthRejection(e: unknown): boolean {
	const err = asImapError(e);
	if (isTemporary(e)) return false;
	return err.authenticationFailed === true || err.serverResponseCode === 'AUTHENTICATIONFAILED';
}

/** A readable delegated token whose `scp` has no IMAP permission. */
function lacksImapScope(accessToken: string): boolean {
	const scp = jwtPayload(accessToken)?.scp;
	return typeof scp === 'string' && !scp.split(' ').includes('IMAP.AccessAsUser.All');
}

/** Pause before the one retry of a temporary IMAP sign-in failure. */
export const IMAP_TEMPORARY_RETRY_MS = 2000;

export type ImapConnection = ImapFlow;

export async function connectImap(session: TokenSession, options: ImapOptions = {}): Promise<ImapFlow> {
	const attempt = async (accessToken: string): Promise<ImapFlow> => {
		const { imap, tls } = session.settings;
		const client = new ImapFlow({
			host: imap.host,
			port: imap.port,
			secure: imap.secure,
			// STARTTLS, when chosen, is required: never log in over plain text.
			...(imap.secure ? {} : { doSTARTTLS: true }),
			auth: { user: session.imapUser, accessToken },
			tls: { rejectUnauthorized: tls.rejectUnauthorized, ca: tls.ca, minVersion: 'TLSv1.2', servername: isIP(imap.host) ? undefined : imap.host },
			logger: false,
			connectionTimeout: options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectMs,
			greetingTimeout: options.greetingTimeoutMs ?? DEFAULT_TIMEOUTS.greetingMs,
			socketTimeout: options.socketTimeoutMs ?? DEFAULT_TIMEOUTS.socketMs,
			emitLogs: false,
			disableAutoIdle: true,
		});
		// imapflow emits 'error' on socket faults; without a listener Node would throw.
		client.on('error', () => undefined);
		const failed = await client.connect().then(
			() => undefined,
			(e: unknown) => ({ error: e }),
		);
		if (failed) {
			client.close();
			throw failed.error;
		}
		return client;
	};
	const explain = async (e: unknown): Promise<MailError> => {
		const { imap } = session.settings;
		// STARTTLS to an implicit-TLS port waits for a greeting that never comes: ask the port once in TLS.
		if (!imap.secure && isGreetingTimeout(e) && (await speaksImplicitTls(imap.host, imap.port)))
			return new MailError(portSecurityMismatch('imap', imap, asImapError(e).message));
		const explained = explainImapError(session, e);
		return explained.failure.code === 'TLS_PORT_MISMATCH' ? new MailError(portSecurityMismatch('imap', imap, explained.failure.serverResponse)) : explained;
	};
	let first: unknown;
	try {
		return await attempt(session.accessToken);
	} catch (e) {
		first = e;
	}
	// A temporary failure is retried once as it is, without spending the one token renewal on it.
	if (isTemporary(first)) {
		await new Promise<void>((resolve) => setTimeout(resolve, IMAP_TEMPORARY_RETRY_MS));
		try {
			return await attempt(session.accessToken);
		} catch (again) {
			throw await explain(again);
		}
	}
	if (!isAuthRejection(first) || session.renewedAfterRejection) throw await explain(first);
	const token = await session.renewAfterRejection();
	try {
		return await attempt(token);
	} catch (again) {
		throw await explain(again);
	}
}

export function explainImapError(session: TokenSession, e: unknown): MailError {
	if (e instanceof MailError) return e;
	let failure = describeImapError(asImapError(e));
	const logins = session.logins;
	// A delegate opening someone else's mailbox: the missing piece is Full Access, say so with the command
	// (unless the token plainly lacks the IMAP permission, which the general hint covers).
	if ((failure.code === 'IMAP_AUTH_REJECTED' || failure.code === 'IMAP_NOT_CONNECTED') && isDelegate(logins) && logins.signedInAccount && !lacksImapScope(session.accessToken))
		failure = fullAccessFailure(logins.imapUser, logins.signedInAccount, failure);
	return new MailError({
		...failure,
		message: session.redact(failure.message),
		serverResponse: failure.serverResponse && session.redact(failure.serverResponse),
	});
}

/* ------------------------------------------------------------------ mailbox checks (Verify Mailbox) */

export interface MailboxOverview {
	/** SASL mechanism the login used. */
	mechanism: 'XOAUTH2' | 'OAUTHBEARER' | undefined;
	folders: Array<{ path: string; specialUse?: string }>;
	inbox: { messages: number; unseen: number };
	/** Present when the server offers QUOTA. */
	quota?: { usedBytes?: number; limitBytes?: number; percent?: string };
}

function mechanismOf(client: ImapFlow): MailboxOverview['mechanism'] {
	// imapflow records the mechanism it authenticated with; it is not part of its typings.
	const recorded: unknown = Reflect.get(client, 'authCapabilities');
	if (!(recorded instanceof Map)) return undefined;
	if (recorded.has('AUTH=OAUTHBEARER')) return 'OAUTHBEARER';
	if (recorded.has('AUTH=XOAUTH2') || recorded.has('AUTH=XOAUTH')) return 'XOAUTH2';
	return undefined;
}

/** Lists the folders, counts INBOX messages and reads the quota where offered. Read-only. */
export async function inspectMailbox(client: ImapFlow): Promise<MailboxOverview> {
	const mechanism = mechanismOf(client);
	const folders = (await client.list()).map((f) => ({ path: f.path, ...(f.specialUse ? { specialUse: f.specialUse } : {}) }));
	const status = await client.status('INBOX', { messages: true, unseen: true });
	const overview: MailboxOverview = {
		mechanism,
		folders,
		inbox: { messages: (status && status.messages) || 0, unseen: (status && status.unseen) || 0 },
	};
	const quota = await client.getQuota('INBOX');
	if (quota && quota.storage) {
		// imapflow already turns RFC 2087's KiB into bytes.
		const { usage, limit, status: percent } = quota.storage;
		overview.quota = {
			...(usage !== undefined ? { usedBytes: usage } : {}),
			...(limit !== undefined ? { limitBytes: limit } : {}),
			...(percent ? { percent } : {}),
		};
	}
	return overview;
}

/** The folder a server marks with a special use such as `\Sent`, if any. */
export async function specialFolder(client: ImapFlow, use: '\\Sent' | '\\Trash' | '\\Junk'): Promise<string | undefined> {
	return (await client.list()).find((f) => f.specialUse === use)?.path;
}

/** UIDs of the messages in `folder` whose Message-ID header is `messageId`. */
export async function findByMessageId(client: ImapFlow, folder: string, messageId: string): Promise<number[]> {
	const lock = await client.getMailboxLock(folder);
	try {
		const found = await client.search({ header: { 'message-id': messageId } }, { uid: true });
		return Array.isArray(found) ? found : [];
	} finally {
		lock.release();
	}
}

/** How messages were removed: expunged by UID, or only flagged \Deleted. */
export type Removal = 'expunged' | 'flagged';

/**
 * Removes exactly these messages. With UIDPLUS: flag \Deleted, then UID EXPUNGE of these UIDs.
 * Without it the only expunge is a plain EXPUNGE, which would also remove every message another
 * client has flagged \Deleted and not yet expunged: the messages are then only flagged.
 */
export async function deleteMessages(client: ImapFlow, folder: string, uids: number[]): Promise<Removal> {
	const uidplus = client.capabilities.has('UIDPLUS');
	if (!uids.length) return uidplus ? 'expunged' : 'flagged';
	const lock = await client.getMailboxLock(folder);
	try {
		if (uidplus) await client.messageDelete(uids.join(','), { uid: true });
		else await client.messageFlagsAdd(uids.join(','), ['\\Deleted'], { uid: true });
		return uidplus ? 'expunged' : 'flagged';
	} finally {
		lock.release();
	}
}

/** Logs out politely when the server answers, and always frees the socket. */
export async function disconnectImap(client: ImapFlow, waitMs = 2000): Promise<void> {
	let timer: NodeJS.Timeout | undefined;
	try {
		await Promise.race([
			client.logout(),
			new Promise<void>((resolve) => {
				timer = setTimeout(resolve, waitMs);
			}),
		]);
	} catch {
		// The connection is going away either way.
	} finally {
		clearTimeout(timer);
		client.close();
	}
}
