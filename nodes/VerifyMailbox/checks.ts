/**
 * The checks of Verify Mailbox, each a small function: token, SMTP, IMAP, round trip. Each runs
 * under its own deadline and reports ok / failed / skipped; nothing here throws for a failed gate.
 */
import { randomUUID } from 'node:crypto';

import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { CREDENTIAL_TYPE } from '../shared/constants';
import { MailError } from '../shared/errors';
import { connectImap, deleteMessages, disconnectImap, explainImapError, findByMessageId, inspectMailbox, specialFolder, type ImapConnection } from '../shared/imap';
import { describeSource, isDelegate } from '../shared/identity';
import { secretsOf } from '../shared/secrets';
import { readMailboxSettings, type MailboxSettings } from '../shared/settings';
import { SmtpClient } from '../shared/smtp';
import { TokenSession } from '../shared/token';
import { claimWarnings, describeClaims, readTokenClaims } from './claims';
import { runCheck, skipped, summarize, type CheckResult, type CheckScope, type Verification } from './outcome';

export type OptionalCheck = 'smtp' | 'imap' | 'roundTrip';

export interface VerifyOptions {
	checks: OptionalCheck[];
	timeoutMs: number;
	roundTripTimeoutMs: number;
	/** How often the round trip looks for the probe. */
	pollMs?: number;
}

const PROBE_SUBJECT = 'n8n Verify Mailbox probe';

function hostsOf(s: MailboxSettings | undefined): Verification['hosts'] {
	return s ? { smtp: `${s.smtp.host}:${s.smtp.port}`, imap: `${s.imap.host}:${s.imap.port}` } : { smtp: '', imap: '' };
}

function timeouts(ms: number) {
	// The greeting wait ends early enough to ask the port once in TLS (a STARTTLS/implicit-TLS mismatch) within the check's deadline.
	return { connectTimeoutMs: ms, greetingTimeoutMs: Math.max(1000, Math.round(ms * 0.6)), socketTimeoutMs: ms };
}

/** Token: read or refresh it; an expired JWT (clock or stored expiry wrong) is refreshed once more. */
export async function checkToken(
	ctx: IExecuteFunctions,
	options: VerifyOptions,
	holder: { session?: TokenSession; notes: string[] },
	credentials?: IDataObject,
): Promise<CheckResult> {
	return await runCheck('token', options.timeoutMs, 'the token endpoint', async () => {
		const session = await TokenSession.open(ctx, credentials);
		holder.session = session;
		let claims = readTokenClaims(session.accessToken);
		if (claims?.expiresAt !== undefined && claims.expiresAt <= Date.now()) {
			await session.renewAfterRejection();
			claims = readTokenClaims(session.accessToken);
		}
		const { settings } = session;
		if (claims)
			holder.notes.push(...claimWarnings(claims, {
				smtp: options.checks.includes('smtp') || options.checks.includes('roundTrip'),
				imap: options.checks.includes('imap') || options.checks.includes('roundTrip'),
				mailbox: settings.mailbox,
				microsoft: settings.isMicrosoftSmtp,
			}));
		const expiresAt = claims?.expiresAt ?? session.expiresAt;
		const logins = session.logins;
		if (isDelegate(logins) && !options.checks.includes('roundTrip'))
			holder.notes.push(`${logins.signedInAccount ?? ''} signs in for ${settings.mailbox}: only the Round Trip check proves Send As on it (the SMTP check logs in without sending).`);
		const facts: IDataObject = {
			grantType: settings.grantType,
			...(logins.signedInAccount ? { signedInAccount: logins.signedInAccount } : {}),
			signedInAccountSource: describeSource(logins.source),
			refreshed: session.refreshes > 0,
			...(expiresAt ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
			...(claims?.audience ? { audience: claims.audience } : {}),
			...(claims?.scopes.length ? { scopes: claims.scopes } : {}),
			...(claims?.roles.length ? { roles: claims.roles } : {}),
			...(claims?.identity ? { issuedTo: claims.identity } : {}),
		};
		const how = session.refreshes > 0 ? 'Refreshed through the credential' : 'Stored token is fresh';
		return { detail: `${how}; ${describeClaims(claims, session.expiresAt)}`, facts };
	}, holder.session?.secrets());
}

/** SMTP: connect, STARTTLS (or implicit TLS), AUTH XOAUTH2; nothing is sent. */
export async function checkSmtp(session: TokenSession, options: VerifyOptions): Promise<CheckResult> {
	const { smtp } = session.settings;
	const where = `${smtp.host}:${smtp.port}`;
	return await runCheck('smtp', options.timeoutMs, where, async (scope) => {
		const client = scope.adopt(new SmtpClient(session, timeouts(options.timeoutMs)), (c) => c.close());
		await client.verify();
		return {
			detail: `Logged in to ${where} as ${session.smtpUser} with ${smtp.secure ? 'implicit TLS' : 'STARTTLS'} and XOAUTH2; nothing was sent`,
			facts: { loggedInAs: session.smtpUser, mailbox: session.settings.mailbox },
		};
	}, session.secrets());
}

/** An IMAP step whose failure is told in the catalogue's words ("not connected" and the like). */
async function imapStep<T>(session: TokenSession, step: Promise<T>): Promise<T> {
	try {
		return await step;
	} catch (e) {
		throw explainImapError(session, e);
	}
}

async function openImap(session: TokenSession, scope: CheckScope, timeoutMs: number): Promise<ImapConnection> {
	return scope.adopt(await connectImap(session, timeouts(timeoutMs)), (c) => disconnectImap(c));
}

/** IMAP: TLS, AUTHENTICATE XOAUTH2 or OAUTHBEARER, folders, INBOX counts, quota. Read-only. */
export async function checkImap(session: TokenSession, options: VerifyOptions): Promise<CheckResult> {
	const { imap } = session.settings;
	const where = `${imap.host}:${imap.port}`;
	return await runCheck('imap', options.timeoutMs, where, async (scope) => {
		const client = await openImap(session, scope, options.timeoutMs);
		const o = await imapStep(session, inspectMailbox(client));
		const quota = o.quota?.limitBytes
			? `; quota ${Math.round((o.quota.usedBytes ?? 0) / 1048576)} of ${Math.round(o.quota.limitBytes / 1048576)} MB`
			: '';
		const { signedInAccount, imapUser } = session.logins;
		const who = signedInAccount && signedInAccount.toLowerCase() !== imapUser.toLowerCase() ? `${signedInAccount} opened ${imapUser}` : `as ${imapUser}`;
		return {
			detail: `Logged in to ${where} ${who} with ${o.mechanism ?? 'OAuth'}${imap.secure ? '' : ' after STARTTLS'}; ${o.folders.length} folders; INBOX ${o.inbox.messages} ${o.inbox.messages === 1 ? 'message' : 'messages'}, ${o.inbox.unseen} unseen${quota}`,
			facts: {
				loggedInAs: signedInAccount ?? imapUser,
				mailbox: imapUser,
				mechanism: o.mechanism ?? null,
				folders: o.folders.map((f) => f.path),
				inbox: o.inbox,
				...(o.quota ? { quota: o.quota } : {}),
			},
		};
	}, session.secrets());
}

/** The probe: to and from the mailbox, marked so no one auto-replies to it. */
export function probeMessage(mailbox: string, now = new Date()) {
	const domain = mailbox.split('@')[1] ?? 'n8n.invalid';
	const messageId = `<verify-mailbox-${randomUUID()}@${domain}>`;
	return {
		messageId,
		mail: {
			from: mailbox,
			to: mailbox,
			subject: `${PROBE_SUBJECT} ${now.toISOString()}`,
			text: 'Sent by the n8n Verify Mailbox node to test sending and receiving. It deletes this message itself; if you see it, the round trip timed out and you can delete it.',
			messageId,
			headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
		},
	};
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Round trip: send a probe to itself, find it in INBOX by Message-ID, delete it (and its Sent copy). */
export async function checkRoundTrip(session: TokenSession, options: VerifyOptions): Promise<CheckResult> {
	const { mailbox, imap } = session.settings;
	const budget = options.roundTripTimeoutMs + 2 * options.timeoutMs;
	return await runCheck('roundTrip', budget, `${mailbox} via SMTP and IMAP`, async (scope) => {
		const probe = probeMessage(mailbox);
		const smtp = scope.adopt(new SmtpClient(session, timeouts(options.timeoutMs)), (c) => c.close());
		const sentAt = Date.now();
		await smtp.send(probe.mail);
		smtp.close();
		const client = await openImap(session, scope, options.timeoutMs);
		const giveUp = Date.now() + options.roundTripTimeoutMs;
		const find = async (folder: string) => await imapStep(session, findByMessageId(client, folder, probe.messageId));
		let uids = await find('INBOX');
		while (!uids.length && Date.now() < giveUp) {
			await sleep(Math.min(options.pollMs ?? 1000, Math.max(0, giveUp - Date.now())));
			uids = await find('INBOX');
		}
		if (!uids.length)
			throw new RoundTripError(options.roundTripTimeoutMs, probe.messageId, imap.host);
		const arrivedMs = Date.now() - sentAt;
		const removal = await imapStep(session, deleteMessages(client, 'INBOX', uids));
		// Exchange Online keeps a copy of SMTP submissions in Sent Items: remove that too.
		const sent = await imapStep(session, specialFolder(client, '\\Sent'));
		const copies = sent ? await find(sent) : [];
		if (sent) await imapStep(session, deleteMessages(client, sent, copies));
		const copy = copies.length ? ` (with its copy in ${sent})` : '';
		const removed = removal === 'expunged'
			? `was deleted${copy}`
			: `was flagged \\Deleted${copy} but not expunged: the server lacks UIDPLUS, and a plain EXPUNGE would also remove messages other mail apps flagged for deletion. It goes with the mailbox's next expunge (or delete it by hand)`;
		const sender = session.smtpUser;
		const sendAs = sender.toLowerCase() === mailbox.toLowerCase() ? '' : ` by ${sender} (Send As proven)`;
		return {
			detail: `Probe sent from ${mailbox}${sendAs} to itself arrived in INBOX after ${(arrivedMs / 1000).toFixed(1)} s and ${removed}`,
			facts: { arrivedAfterMs: arrivedMs, loggedInAs: sender, from: mailbox, probeRemoval: removal },
		};
	}, session.secrets());
}


class RoundTripError extends MailError {
	constructor(timeoutMs: number, messageId: string, host: string) {
		super({
			source: 'imap',
			code: 'ROUND_TRIP_NOT_DELIVERED',
			message: `The server accepted the probe, but it did not arrive in INBOX within ${Math.round(timeoutMs / 1000)} s.`,
			hint: `Check the mailbox's Junk Email folder and mail flow (transport) rules in the Exchange admin center, and message trace for ${messageId}. If it arrives later, delete the "${PROBE_SUBJECT}" message. IMAP host: ${host}.`,
			retryable: true,
		});
	}
}

/**
 * Runs the chosen checks in order; later checks are skipped when what they need failed. The
 * credential is read once; `seen` collects every secret the checks held (a refreshed token too).
 */
export async function verifyMailbox(ctx: IExecuteFunctions, options: VerifyOptions, seen: string[] = []): Promise<Verification> {
	const credentials = await ctx.getCredentials<IDataObject>(CREDENTIAL_TYPE);
	seen.push(...secretsOf(credentials));
	let settings: MailboxSettings | undefined;
	try {
		settings = readMailboxSettings(credentials);
	} catch {
		settings = undefined; // the token check reports it with the field and the fix
	}
	const holder: { session?: TokenSession; notes: string[] } = { notes: [] };
	const results: CheckResult[] = [await checkToken(ctx, options, holder, credentials)];
	const session = results[0].status === 'ok' ? holder.session : undefined;
	const wanted = (name: OptionalCheck) => options.checks.includes(name);
	const noToken = 'Skipped: no usable token';
	const notSelected = 'Not selected';
	const smtp = !wanted('smtp') ? skipped('smtp', notSelected) : session ? await checkSmtp(session, options) : skipped('smtp', noToken);
	const imap = !wanted('imap') ? skipped('imap', notSelected) : session ? await checkImap(session, options) : skipped('imap', noToken);
	results.push(smtp, imap);
	const blocker = [smtp, imap].find((r) => r.status === 'failed');
	results.push(
		!wanted('roundTrip')
			? skipped('roundTrip', notSelected)
			: !session
				? skipped('roundTrip', noToken)
				: blocker
					? skipped('roundTrip', `Skipped: the ${blocker.name.toUpperCase()} check failed`)
					: await checkRoundTrip(session, options),
	);
	// The session's secrets include any token it refreshed (n8n saved it; the credential read above has the old one).
	seen.push(...(holder.session?.secrets() ?? []));
	return summarize({ mailbox: settings?.mailbox ?? '', grantType: settings?.grantType, hosts: hostsOf(settings), results, notes: holder.notes });
}
