/**
 * Where the trigger is in a folder, as a pure value kept in the workflow's static data:
 * UIDVALIDITY plus the highest UID already started. Everything here is pure: the watcher asks
 * "what range do I search now?" and "I am about to start this message: what is the new cursor?".
 */
import type { IDataObject } from 'n8n-workflow';

export interface Cursor {
	uidValidity: number;
	/** Highest UID whose workflow has been started (or skipped on purpose). */
	lastUid: number;
	/** While `lastUid` is below this, only unread messages start (the "also unread already there" backlog). */
	backlogUntil?: number;
	/** INTERNALDATE (ms) of the newest message started: after a UIDVALIDITY change, older mail is not new. */
	lastDate?: number;
	/** Keys of the last messages started, so a UIDVALIDITY re-sync does not start them again. */
	recent?: string[];
	/** Folder the cursor belongs to: a changed folder starts afresh. */
	folder?: string;
}

/** How many recently started message keys the cursor remembers for a UIDVALIDITY re-sync. */
export const RECENT_KEYS = 50;

export type StartWith = 'new' | 'newAndUnread';

export interface MailboxState {
	folder: string;
	uidValidity: number;
	/** UIDNEXT as the server reported it when the folder was opened. */
	uidNext: number;
}

function num(v: unknown): number | undefined {
	const n = typeof v === 'string' ? Number(v) : v;
	return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Reads a cursor from static data; anything malformed reads as "no cursor". */
export function readCursor(data: IDataObject): Cursor | undefined {
	const raw = data.cursor;
	if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
	const c = raw as IDataObject;
	const uidValidity = num(c.uidValidity);
	const lastUid = num(c.lastUid);
	if (uidValidity === undefined || lastUid === undefined) return undefined;
	const cursor: Cursor = { uidValidity, lastUid };
	const backlogUntil = num(c.backlogUntil);
	if (backlogUntil !== undefined) cursor.backlogUntil = backlogUntil;
	const lastDate = num(c.lastDate);
	if (lastDate !== undefined) cursor.lastDate = lastDate;
	if (Array.isArray(c.recent)) cursor.recent = c.recent.filter((k): k is string => typeof k === 'string').slice(-RECENT_KEYS);
	if (typeof c.folder === 'string') cursor.folder = c.folder;
	return cursor;
}

/** The plain object stored in static data (n8n serialises it as JSON). */
export function cursorData(cursor: Cursor): IDataObject {
	return { ...cursor, ...(cursor.recent ? { recent: [...cursor.recent] } : {}) };
}

export type Reconciliation =
	| { kind: 'continue'; cursor: Cursor }
	| { kind: 'fresh'; cursor: Cursor }
	/** UIDVALIDITY changed: look at mail since `since` and start what the cursor has not seen. */
	| { kind: 'resync'; cursor: Cursor; since?: number };

/**
 * Compares the stored cursor with the folder as the server reports it now. New mail only: a fresh
 * cursor starts after the last message present. With "also unread", the backlog up to UIDNEXT
 * starts too, unread messages only.
 */
export function reconcile(stored: Cursor | undefined, box: MailboxState, startWith: StartWith): Reconciliation {
	const present = Math.max(0, box.uidNext - 1);
	if (!stored || (stored.folder !== undefined && stored.folder !== box.folder)) {
		if (startWith === 'newAndUnread')
			return { kind: 'fresh', cursor: { uidValidity: box.uidValidity, lastUid: 0, backlogUntil: present, folder: box.folder } };
		return { kind: 'fresh', cursor: { uidValidity: box.uidValidity, lastUid: present, folder: box.folder } };
	}
	if (stored.uidValidity !== box.uidValidity) {
		// Old UIDs mean nothing now. Nothing is started until the re-sync has compared dates and keys.
		const cursor: Cursor = {
			uidValidity: box.uidValidity,
			lastUid: 0,
			folder: box.folder,
			...(stored.lastDate !== undefined ? { lastDate: stored.lastDate } : {}),
			...(stored.recent ? { recent: stored.recent } : {}),
		};
		return { kind: 'resync', cursor, since: stored.lastDate };
	}
	return { kind: 'continue', cursor: { ...stored, folder: box.folder } };
}

/** The UID range to search for messages not yet started, and whether the unread-only backlog applies. */
export function nextRange(cursor: Cursor): { range: string; backlogOnly: boolean; backlogUntil?: number } {
	const from = cursor.lastUid + 1;
	if (cursor.backlogUntil !== undefined && cursor.lastUid < cursor.backlogUntil)
		return { range: `${from}:${cursor.backlogUntil}`, backlogOnly: true, backlogUntil: cursor.backlogUntil };
	return { range: `${from}:*`, backlogOnly: false };
}

export interface Candidate {
	uid: number;
	/** INTERNALDATE in ms (delivery time). */
	date?: number;
	key: string;
}

/** A stable key for a message across UIDVALIDITY changes: its Message-ID, else date and size. */
export function messageKey(messageId: string | undefined, date: number | undefined, size: number | undefined): string {
	return messageId ? messageId.trim().toLowerCase() : `${date ?? 0}:${size ?? 0}`;
}

/**
 * After a UIDVALIDITY change: of the messages delivered since the newest one started, those the
 * cursor has not started yet, in UID order. Without a date to compare, nothing old is started.
 */
export function resyncSelection(cursor: Cursor, candidates: Candidate[], since: number | undefined): Candidate[] {
	if (since === undefined) return [];
	const seen = new Set(cursor.recent ?? []);
	return candidates
		.filter((c) => c.date !== undefined && c.date >= since && !seen.has(c.key))
		.sort((a, b) => a.uid - b.uid);
}

/** The cursor once message `uid` is about to start (written before the execution is emitted). */
export function advance(cursor: Cursor, message: { uid: number; date?: number; key?: string }): Cursor {
	const next: Cursor = { ...cursor, lastUid: Math.max(cursor.lastUid, message.uid) };
	if (message.date !== undefined) next.lastDate = Math.max(cursor.lastDate ?? 0, message.date);
	if (message.key) next.recent = [...(cursor.recent ?? []).filter((k) => k !== message.key), message.key].slice(-RECENT_KEYS);
	if (next.backlogUntil !== undefined && next.lastUid >= next.backlogUntil) delete next.backlogUntil;
	return next;
}

/** The cursor once everything up to `uid` has been looked at (no match needs starting below it). */
export function skipTo(cursor: Cursor, uid: number): Cursor {
	const next: Cursor = { ...cursor, lastUid: Math.max(cursor.lastUid, uid) };
	if (next.backlogUntil !== undefined && next.lastUid >= next.backlogUntil) delete next.backlogUntil;
	return next;
}
