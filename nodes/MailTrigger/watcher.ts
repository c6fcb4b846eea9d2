/**
 * The trigger's only long-lived state: one IMAP connection, its IDLE (or poll) loop, reconnects
 * before the access token expires, backoff after failures, and one `close()`.
 *
 * Exactly once: the cursor (UIDVALIDITY + highest UID started) lives in the workflow's static data,
 * which n8n saves when a trigger emits and after activation. The saved cursor only ever covers
 * messages whose execution n8n has confirmed (the emit's done promise); each emit carries a
 * de-duplication key (workflow, node, folder, Message-ID, delivery time, size) that n8n 2.41+ stores with the
 * execution, unique. After a crash the unconfirmed tail is emitted again and n8n refuses the ones
 * it already has. See README "Exactly once" for the precise boundary.
 */
import { createHash } from 'node:crypto';

import type { IBinaryData, IDataObject, INodeExecutionData, ITriggerFunctions } from 'n8n-workflow';

import { MailError, describeImapError, type MailFailure } from '../shared/errors';
import { connectImap, disconnectImap, explainImapError, type ImapConnection } from '../shared/imap';
import { TOKEN_REFRESH_MARGIN_MS } from '../shared/constants';
import { TokenSession } from '../shared/token';
import {
	advance,
	cursorData,
	messageKey,
	nextRange,
	readCursor,
	reconcile,
	resyncSelection,
	skipTo,
	type Cursor,
	type StartWith,
} from './cursor';
import { endEpisode, episodeOf, handedOver, report, type FailureEpisode } from './episodes';
import { itemJson, parseHeaders, partsOf, type BodyPart } from './parse';

export interface TriggerFilters {
	unreadOnly: boolean;
	from?: string;
	subject?: string;
	hasAttachments: boolean;
}

export interface WatchOptions {
	folder: string;
	startWith: StartWith;
	filters: TriggerFilters;
	after: { action: 'nothing' | 'markRead' | 'move'; moveTo?: string };
	attachments: { download: boolean; maxBytes: number };
	/** IDLE is ended and re-issued at least this often (RFC 2177: within 29 minutes). */
	idleRenewMs: number;
	/** Poll interval when the server has no IDLE. */
	pollMs: number;
	/** An IMAP command or socket that says nothing for this long counts as dead. */
	socketTimeoutMs: number;
}

/** Reconnect backoff: 1 s doubling to 5 minutes. Not frozen: the engine tests shorten it. */
export const BACKOFF: { baseMs: number; maxMs: number } = { baseMs: 1000, maxMs: 5 * 60 * 1000 };
/** Messages fetched per FETCH command while draining a backlog. */
const FETCH_CHUNK = 50;

export function backoffDelay(failures: number, base: number = BACKOFF.baseMs, max: number = BACKOFF.maxMs): number {
	return Math.min(max, base * 2 ** Math.min(40, Math.max(0, failures - 1)));
}

/** A wait as a log line says it: tenths of a second below 10 s. */
function inSeconds(ms: number): string {
	return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** The later of the saved position and the one this process confirmed before a reported failure. */
export function laterCursor(saved: Cursor | undefined, confirmed: Cursor | undefined): Cursor | undefined {
	if (!confirmed) return saved;
	if (!saved) return confirmed;
	return saved.uidValidity === confirmed.uidValidity && saved.lastUid >= confirmed.lastUid ? saved : confirmed;
}

/** When to reconnect with a fresh token: before expiry, by at most the usual margin or a quarter of its life. */
export function renewalTime(expiresAt: number | undefined, openedAt: number): number {
	if (expiresAt === undefined) return Number.POSITIVE_INFINITY;
	const life = Math.max(0, expiresAt - openedAt);
	return expiresAt - Math.min(TOKEN_REFRESH_MARGIN_MS, life / 4);
}

/** A socket-level fault in the shape Node and imapflow use, so the catalogue maps its code. */
function networkError(message: string, systemCode: 'ETIMEDOUT' | 'ECONNRESET'): Error {
	return Object.assign(new Error(message), { code: systemCode });
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(networkError(`The IMAP server did not answer ${what} within ${Math.round(ms / 1000)} s`, 'ETIMEDOUT')), ms);
	});
	return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Turns IMAP SEARCH keys from the trigger's filters (all evaluated by the server). */
export function searchQuery(filters: TriggerFilters, range: string, unreadOnly: boolean): Record<string, unknown> {
	const q: Record<string, unknown> = { uid: range };
	if (filters.unreadOnly || unreadOnly) q.seen = false;
	if (filters.from) q.from = filters.from;
	if (filters.subject) q.subject = filters.subject;
	// No IMAP SEARCH key says "has attachments"; multipart/mixed is how mail carries them. The body
	// structure then confirms each candidate.
	if (filters.hasAttachments) q.header = { 'content-type': 'multipart/mixed' };
	return q;
}

interface Fetched {
	uid: number;
	size?: number;
	internalDate?: Date;
	envelope?: { messageId?: string };
	bodyStructure?: BodyPart;
	headers?: Buffer;
}

function folderMissing(folder: string, e: unknown): MailError {
	const said = Reflect.get(Object(e), 'responseText');
	return new MailError({
		source: 'input',
		code: 'FOLDER_NOT_FOUND',
		message: `The folder "${folder}" could not be opened${typeof said === 'string' && said ? ` (${said})` : ''}.`,
		hint: 'Pick the folder from the list in the Folder field, or type its full path as the server names it (Exchange: "Inbox/Sub folder").',
		retryable: false,
	});
}

export interface WatcherHost {
	ctx: ITriggerFunctions;
	/** The node's static data object (n8n persists it). */
	staticData: IDataObject;
	/**
	 * Starts one execution for one message. `key` identifies the message for n8n's execution
	 * de-duplication; the promise settles once n8n has the execution (or knew it already).
	 */
	emit(item: INodeExecutionData, key: string): Promise<unknown>;
	/** Prefix of de-duplication keys: the workflow and the node. */
	keyPrefix: string;
	/**
	 * A failure the user must act on, reported once (n8n's emitError). The watcher has stopped: n8n
	 * closes the trigger and activates the workflow again, which continues the retries.
	 */
	fail(failure: MailError): void;
	/** Something went wrong and will be retried (logged, not raised). */
	warn(message: string): void;
	/** The trigger is working again after failures. */
	info(message: string): void;
}

export class MailWatcher {
	private closed = false;

	private client?: ImapConnection;

	private cursor?: Cursor;

	private wake?: () => void;

	private loop?: Promise<void>;

	private readonly timers = new Set<NodeJS.Timeout>();

	/**
	 * Cursor positions in the order they were reached; a position whose execution n8n has not
	 * confirmed yet holds back every later one. Only confirmed positions reach static data.
	 */
	private steps: Array<{ cursor: Cursor; settled: boolean }> = [];

	private generation = 0;

	/** This watcher handed a failure to n8n, which re-activates: the episode outlives `close()`. */
	private reported = false;

	/** Executions emitted by this watcher (for logs and tests). */
	started = 0;

	/** Connections opened (each with a token checked or refreshed first). */
	connections = 0;

	constructor(
		private readonly host: WatcherHost,
		private readonly options: WatchOptions,
	) {}

	/**
	 * Connects once, checks the folder (and the move target), and writes the first cursor before
	 * activation ends, so that n8n saves it with the activation. Throws what the user must fix.
	 */
	async activate(): Promise<void> {
		const key = this.host.keyPrefix;
		const episode = handedOver(key, this.host.staticData, readCursor(this.host.staticData) !== undefined);
		if (episode) {
			// n8n is activating again after a reported failure, possibly with older static data.
			const cursor = laterCursor(readCursor(this.host.staticData), episode.cursor);
			if (cursor) {
				this.cursor = cursor;
				this.host.staticData.cursor = cursorData(cursor);
			}
		}
		const opened = await this.open().catch((e: unknown) => ({ failed: this.asMailError(e) }));
		if ('failed' in opened) {
			const failure = opened.failed.failure;
			// Without a saved position (a first activation) the user sees every failure at once.
			if (!this.cursor && !readCursor(this.host.staticData)) throw opened.failed;
			if (failure.retryable) {
				// Nothing can be lost: a passing fault only delays the first connection.
				this.host.warn(`${failure.message} [${failure.code}] Will keep trying to connect.`);
				this.loop = this.run(undefined, Number.POSITIVE_INFINITY, (episode?.failures ?? 0) + 1);
				return;
			}
			if (!episode) throw opened.failed;
			episode.failures++;
			if (episode.code !== failure.code) {
				// Another failure than the one reported: n8n reports this one (activation error) and retries.
				report(key, { code: failure.code, failures: episode.failures, cursor: episode.cursor }, this.host.staticData);
				this.reported = true;
				throw opened.failed;
			}
			// Reported already: retry here, backoff capped, instead of n8n's wait that grows to a day.
			const delay = backoffDelay(episode.failures);
			this.host.warn(`${failure.message} [${failure.code}] Still failing (reported to n8n); retrying in ${inSeconds(delay)} (attempt ${episode.failures}).`);
			this.loop = this.run(undefined, Number.POSITIVE_INFINITY, episode.failures);
			return;
		}
		this.recovered(episode);
		const { client, renewAt } = opened;
		this.client = client;
		if (this.options.after.action === 'move') {
			const missing = await this.checkMoveTarget(client).catch((e: unknown) => this.asMailError(e));
			if (missing) {
				await disconnectImap(client);
				throw missing;
			}
		}
		this.loop = this.run(client, renewAt, 0);
	}

	async close(): Promise<void> {
		this.closed = true;
		// Deactivated (not closed by n8n after this watcher's report): the next activation starts afresh.
		if (!this.reported) endEpisode(this.host.keyPrefix);
		for (const t of this.timers) clearTimeout(t);
		this.timers.clear();
		this.wake?.();
		const client = this.client;
		this.client = undefined;
		if (client) await disconnectImap(client);
		if (this.loop) await withDeadline(this.loop, 10_000, 'the close').catch(() => undefined);
	}

	private async open(): Promise<{ client: ImapConnection; renewAt: number }> {
		const session = await TokenSession.open(this.host.ctx);
		const openedAt = Date.now();
		const client = await connectImap(session, { socketTimeoutMs: this.options.socketTimeoutMs });
		this.connections++;
		try {
			const box = await client.mailboxOpen(this.options.folder).catch((e: unknown) => ({ refused: e }));
			if ('refused' in box) throw this.selectRefused(box.refused, session);
			// Within one activation the position in memory leads; static data holds what n8n confirmed.
			const plan = reconcile(this.cursor ?? readCursor(this.host.staticData), { folder: this.options.folder, uidValidity: Number(box.uidValidity), uidNext: box.uidNext }, this.options.startWith);
			this.cursor = plan.cursor;
			this.commit(plan.cursor);
			if (plan.kind === 'resync') await this.resync(client, plan.since, box.uidNext);
		} catch (e) {
			await disconnectImap(client);
			throw this.asMailError(e, session);
		}
		return { client, renewAt: renewalTime(session.expiresAt, openedAt) };
	}

	/**
	 * SELECT refused. A refusal the catalogue knows (Exchange's "authenticated but not connected":
	 * IMAP disabled or no mailbox permission) is that; another NO or BAD means no such folder.
	 */
	private selectRefused(e: unknown, session: TokenSession): MailError {
		const known = this.failureOf(e);
		if (known.code !== 'IMAP_CONNECTION_LOST' && known.source !== 'network') return this.asMailError(e, session);
		return ['NO', 'BAD'].includes(String(Reflect.get(Object(e), 'responseStatus'))) ? folderMissing(this.options.folder, e) : this.asMailError(e, session);
	}

	private current(): Cursor {
		if (!this.cursor) throw new Error('The trigger has no cursor before the folder is opened');
		return this.cursor;
	}

	/** Records a new position; `started` is the execution it waits for, if any. */
	private commit(cursor: Cursor, started?: Promise<unknown>): void {
		const step = { cursor, settled: started === undefined };
		this.steps.push(step);
		if (started) {
			const generation = this.generation;
			started.then(
				() => {
					if (generation !== this.generation) return;
					step.settled = true;
					this.flush();
				},
				() => {
					if (generation === this.generation) this.rewind();
				},
			);
		}
		this.flush();
	}

	private flush(): void {
		let confirmed: Cursor | undefined;
		while (this.steps.length && this.steps[0].settled) confirmed = this.steps.shift()?.cursor;
		// n8n persists this when the trigger next emits (and at activation).
		if (confirmed) this.host.staticData.cursor = cursorData(confirmed);
	}

	/** n8n could not create an execution: go back to the last confirmed position and start again. */
	private rewind(): void {
		this.generation++;
		this.steps = [];
		this.cursor = readCursor(this.host.staticData) ?? this.cursor;
		this.host.warn('n8n could not start an execution; the trigger starts again from the last confirmed message.');
		this.wake?.();
	}

	/**
	 * n8n's execution de-duplication key for a message. Built from what survives a UIDVALIDITY
	 * change (Message-ID, delivery time, size), so a re-sync cannot start a message twice either.
	 */
	dedupKey(m: Fetched): string {
		const id =
			m.envelope?.messageId || m.internalDate
				? `${m.envelope?.messageId ?? ''}|${m.internalDate?.getTime() ?? ''}|${m.size ?? ''}`
				: `uid|${this.current().uidValidity}|${m.uid}`;
		return `${this.host.keyPrefix}:${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
	}

	private async checkMoveTarget(client: ImapConnection): Promise<MailError | undefined> {
		const target = this.options.after.moveTo ?? '';
		const folders = (await client.list()).map((f) => f.path);
		if (folders.includes(target)) return undefined;
		return new MailError({
				source: 'input',
				code: 'MOVE_FOLDER_NOT_FOUND',
				message: `The folder "${target}" to move started messages to does not exist in this mailbox.`,
				hint: `Set "Move to Folder" to one of: ${folders.slice(0, 20).join(', ')}${folders.length > 20 ? ', ...' : ''}.`,
				retryable: false,
			});
	}

	/** Reconnects until closed; user-fixable failures go to n8n, transient ones back off quietly. */
	private async run(first: ImapConnection | undefined, firstRenewAt: number, failedBefore: number): Promise<void> {
		let failures = failedBefore;
		let client: ImapConnection | undefined = first;
		if (!client && failures) await this.sleep(backoffDelay(failures));
		let renewAt = firstRenewAt;
		while (!this.closed) {
			try {
				if (!client) {
					({ client, renewAt } = await this.open());
					if (failures) this.recovered(episodeOf(this.host.keyPrefix), failures);
				}
				this.client = client;
				failures = 0;
				await this.watch(client, renewAt);
			} catch (e) {
				if (this.closed) break;
				const failure = this.failureOf(e);
				failures++;
				const episode = episodeOf(this.host.keyPrefix);
				if (!failure.retryable && episode?.code !== failure.code) {
					// Reported once per failure; n8n closes this trigger and activates it again.
					report(this.host.keyPrefix, { code: failure.code, failures, cursor: readCursor(this.host.staticData) }, this.host.staticData);
					this.reported = true;
					this.closed = true;
					this.host.fail(new MailError(failure));
					break;
				}
				if (episode) episode.failures = failures;
				const delay = backoffDelay(failures);
				this.host.warn(`${failure.message} [${failure.code}] ${episode ? 'Still failing (reported to n8n); retrying' : 'Reconnecting'} in ${inSeconds(delay)} (attempt ${failures}).`);
				await this.sleep(delay);
			} finally {
				if (client) await disconnectImap(client);
				client = undefined;
				this.client = undefined;
			}
		}
	}

	private recovered(episode: FailureEpisode | undefined, failures = episode?.failures ?? 0): void {
		if (!episode && !failures) return;
		endEpisode(this.host.keyPrefix);
		this.host.info(
			`Connected again after ${failures} failed attempt${failures === 1 ? '' : 's'}${episode ? ` (${episode.code} is resolved)` : ''}; going on from the saved position.`,
		);
	}

	/** A refusal already explained stays as it is; anything else is a dropped connection, retried. */
	private asMailError(e: unknown, session?: TokenSession): MailError {
		if (e instanceof MailError) return e;
		const failure = this.failureOf(e);
		return new MailError({ ...failure, message: session ? session.redact(failure.message) : failure.message });
	}

	private failureOf(e: unknown): MailFailure {
		if (e instanceof MailError) return e.failure;
		const field = (key: string): unknown => (e && typeof e === 'object' ? Reflect.get(e, key) : undefined);
		const message = typeof field('message') === 'string' ? String(field('message')) : String(e);
		const code = typeof field('code') === 'string' ? String(field('code')) : undefined;
		const known = describeImapError({ message, code, responseText: typeof field('responseText') === 'string' ? String(field('responseText')) : undefined });
		// A sign-in the server refuses needs the user; anything else mid-session is a lost connection.
		if (known.code === 'IMAP_AUTH_REJECTED' || known.code === 'IMAP_NOT_CONNECTED') return known;
		if (known.source === 'network') return { ...known, retryable: true };
		return { ...known, source: 'network', code: 'IMAP_CONNECTION_LOST', hint: 'The trigger reconnects by itself, with backoff.', retryable: true };
	}

	/** One connection's life: drain, wait for mail, repeat, until the token needs renewing. */
	private async watch(client: ImapConnection, renewAt: number): Promise<void> {
		// EXISTS can arrive with any command's response, not only during IDLE: remember it.
		let pending = false;
		const onExists = () => {
			pending = true;
			this.wake?.();
		};
		client.on('exists', onExists);
		try {
			while (!this.closed) {
				pending = false;
				await this.drain(client);
				const left = renewAt - Date.now();
				if (left <= 0) return;
				if (!pending) await this.waitForMail(client, Math.min(this.options.idleRenewMs, left));
			}
		} finally {
			client.off('exists', onExists);
		}
	}

	private async waitForMail(client: ImapConnection, ms: number): Promise<void> {
		if (this.closed) return;
		if (!client.capabilities.has('IDLE')) {
			await this.sleep(Math.min(this.options.pollMs, ms));
			return;
		}
		let wake: () => void = () => undefined;
		const woke = new Promise<void>((resolve) => (wake = resolve));
		const timer = setTimeout(wake, ms);
		this.timers.add(timer);
		this.wake = wake;
		client.on('close', wake);
		const idling = client.idle().catch(() => undefined);
		try {
			await woke;
		} finally {
			clearTimeout(timer);
			this.timers.delete(timer);
			client.off('close', wake);
			this.wake = undefined;
		}
		if (this.closed) return;
		if (!client.usable) throw networkError('The IMAP connection was closed by the server.', 'ECONNRESET');
		// NOOP ends IDLE (DONE) and proves the server still answers.
		await withDeadline(client.noop(), this.options.socketTimeoutMs, 'NOOP after IDLE');
		await withDeadline(idling, this.options.socketTimeoutMs, 'DONE');
	}

	private sleep(ms: number): Promise<void> {
		if (this.closed) return Promise.resolve();
		return new Promise((resolve) => {
			const done = () => {
				clearTimeout(t);
				this.timers.delete(t);
				this.wake = undefined;
				resolve();
			};
			const t = setTimeout(done, ms);
			this.timers.add(t);
			this.wake = done;
		});
	}

	/** Starts every message past the cursor that matches the filters, in UID order. */
	private async drain(client: ImapConnection): Promise<void> {
		while (!this.closed && this.cursor) {
			const { range, backlogOnly, backlogUntil } = nextRange(this.cursor);
			const found = await client.search(searchQuery(this.options.filters, range, backlogOnly), { uid: true });
			const lastUid = this.cursor.lastUid;
			// `n:*` also matches the highest UID when it is below n: keep only what is past the cursor.
			const uids = (Array.isArray(found) ? found : [])
				.filter((u) => u > lastUid && (backlogUntil === undefined || u <= backlogUntil))
				.sort((a, b) => a - b);
			if (!uids.length) {
				if (backlogOnly && backlogUntil !== undefined) {
					this.cursor = skipTo(this.cursor, backlogUntil);
					this.commit(this.cursor);
					continue;
				}
				return;
			}
			for (let i = 0; i < uids.length && !this.closed; i += FETCH_CHUNK) await this.startAll(client, uids.slice(i, i + FETCH_CHUNK));
		}
	}

	private async fetchFacts(client: ImapConnection, uids: number[]): Promise<Fetched[]> {
		const rows = await client.fetchAll(uids.join(','), { uid: true, size: true, internalDate: true, envelope: true, bodyStructure: true, headers: true }, { uid: true });
		return rows
			.map((r) => ({
				uid: r.uid,
				size: r.size,
				internalDate: r.internalDate instanceof Date ? r.internalDate : r.internalDate ? new Date(r.internalDate) : undefined,
				envelope: r.envelope,
				bodyStructure: r.bodyStructure,
				headers: r.headers,
			}))
			.sort((a, b) => a.uid - b.uid);
	}

	private async startAll(client: ImapConnection, uids: number[]): Promise<void> {
		for (const m of await this.fetchFacts(client, uids)) {
			if (this.closed || !this.cursor) return;
			if (m.uid <= this.cursor.lastUid) continue;
			await this.startOne(client, m);
		}
	}

	private async startOne(client: ImapConnection, m: Fetched): Promise<void> {
		const parts = partsOf(m.bodyStructure);
		if (this.options.filters.hasAttachments && !parts.attachments.length) {
			this.cursor = skipTo(this.current(), m.uid);
			this.commit(this.cursor);
			return;
		}
		const item = await this.buildItem(client, m, parts);
		const date = m.internalDate?.getTime();
		const key = this.dedupKey(m);
		this.cursor = advance(this.current(), { uid: m.uid, date, key: messageKey(m.envelope?.messageId, date, m.size) });
		// The saved cursor moves past this message only once n8n holds its execution (see README).
		this.commit(this.cursor, this.host.emit(item, key));
		this.started++;
		await this.afterStart(client, m.uid);
	}

	private async afterStart(client: ImapConnection, uid: number): Promise<void> {
		const { action, moveTo } = this.options.after;
		if (action === 'markRead') await client.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
		if (action === 'move' && moveTo) await client.messageMove(String(uid), moveTo, { uid: true });
	}

	/** Downloads the text parts and (if asked) the attachments, and builds the output item. */
	async buildItem(client: ImapConnection, m: Fetched, parts = partsOf(m.bodyStructure)): Promise<INodeExecutionData> {
		const read = async (part: string | undefined): Promise<string | undefined> => {
			if (!part) return undefined;
			const { content } = await client.download(String(m.uid), part, { uid: true });
			if (!content) return undefined;
			const chunks: Buffer[] = [];
			for await (const chunk of content) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
			return Buffer.concat(chunks).toString('utf8');
		};
		const text = await read(parts.text);
		const html = await read(parts.html);
		const binary: Record<string, IBinaryData> = {};
		const attachments: IDataObject[] = [];
		for (const a of parts.attachments) {
			const entry: IDataObject = { fileName: a.fileName, mimeType: a.mimeType, size: a.size };
			if (this.options.attachments.download && a.size <= this.options.attachments.maxBytes) {
				const key = `attachment_${Object.keys(binary).length}`;
				const { content } = await client.download(String(m.uid), a.part, { uid: true });
				if (!content) {
					entry.skipped = 'the server returned no content for this part';
					attachments.push(entry);
					continue;
				}
				// A stream: with n8n's filesystem or S3 binary mode the bytes never sit in memory whole.
				binary[key] = await this.host.ctx.helpers.prepareBinaryData(content, a.fileName, a.mimeType);
				entry.binaryKey = key;
			} else if (this.options.attachments.download) entry.skipped = `larger than the ${Math.round(this.options.attachments.maxBytes / 1048576)} MB cap`;
			attachments.push(entry);
		}
		const json = itemJson({
			uid: m.uid,
			folder: this.options.folder,
			size: m.size,
			internalDate: m.internalDate,
			headers: await parseHeaders(m.headers),
			text,
			html,
			attachments,
		});
		return Object.keys(binary).length ? { json, binary } : { json };
	}

	/**
	 * UIDVALIDITY changed: the folder was rebuilt and old UIDs mean nothing. Messages delivered since
	 * the newest one started and not among the recently started keys are started; the rest of the
	 * folder is not (no flood). Afterwards the cursor continues from the new UIDNEXT.
	 */
	private async resync(client: ImapConnection, since: number | undefined, uidNext: number): Promise<void> {
		const present = Math.max(0, uidNext - 1);
		if (since !== undefined && present > 0) {
			const day = new Date(since - 24 * 3600 * 1000);
			const found = await client.search({ ...searchQuery(this.options.filters, `1:${present}`, false), since: day }, { uid: true });
			const uids = Array.isArray(found) ? found.filter((u) => u <= present) : [];
			const facts = uids.length ? await this.fetchFacts(client, uids) : [];
			const chosen = resyncSelection(
				this.current(),
				facts.map((f) => ({ uid: f.uid, date: f.internalDate?.getTime(), key: messageKey(f.envelope?.messageId, f.internalDate?.getTime(), f.size) })),
				since,
			);
			const byUid = new Map(facts.map((f) => [f.uid, f]));
			for (const c of chosen) {
				const m = byUid.get(c.uid);
				if (m && !this.closed) await this.startOne(client, m);
			}
		}
		this.cursor = skipTo(this.current(), present);
		this.commit(this.cursor);
	}

	/** The newest message matching the filters, read-only, for "Fetch test event". */
	async newest(): Promise<INodeExecutionData | undefined> {
		const session = await TokenSession.open(this.host.ctx);
		const client = await connectImap(session, { socketTimeoutMs: this.options.socketTimeoutMs });
		try {
			await client.mailboxOpen(this.options.folder, { readOnly: true });
			const found = await client.search(searchQuery(this.options.filters, '1:*', false), { uid: true });
			const uids = (Array.isArray(found) ? found : []).sort((a, b) => b - a);
			for (let i = 0; i < uids.length; i += FETCH_CHUNK) {
				const facts = (await this.fetchFacts(client, uids.slice(i, i + FETCH_CHUNK))).reverse();
				const match = facts.find((f) => !this.options.filters.hasAttachments || partsOf(f.bodyStructure).attachments.length > 0);
				if (match) return await this.buildItem(client, match);
			}
			return undefined;
		} catch (e) {
			throw explainImapError(session, e);
		} finally {
			await disconnectImap(client);
		}
	}
}
