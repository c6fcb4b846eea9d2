/**
 * What the server already accepted, per execution, node, run and item, so that n8n's Retry On
 * Fail (which calls execute() again with the same input) never sends an email twice: a retried
 * item that went out is answered with its original result instead.
 *
 * In memory of the n8n process that runs the execution (retries run in the same process, also in
 * queue mode). Bounded and expiring, so a long-running n8n does not grow.
 */
import { createHash } from 'node:crypto';

import type { IDataObject } from 'n8n-workflow';

import type { MailFailure } from '../shared/errors';
import type { MailOptions } from '../shared/smtp';

/** A retry comes within seconds (n8n waits at most 5 s between tries); an hour is plenty. */
const TTL_MS = 60 * 60 * 1000;
const MAX_ENTRIES = 10_000;

export type LedgerEntry =
	| { kind: 'sent'; json: IDataObject }
	/** The message went out but the server never answered: resending could double it. */
	| { kind: 'unknown'; failure: MailFailure };

export class SentLedger {
	private readonly entries = new Map<string, { entry: LedgerEntry; expiresAt: number }>();

	constructor(
		private readonly ttlMs = TTL_MS,
		private readonly maxEntries = MAX_ENTRIES,
		private readonly now: () => number = Date.now,
	) {}

	get size(): number {
		return this.entries.size;
	}

	get(key: string): LedgerEntry | undefined {
		const hit = this.entries.get(key);
		if (!hit) return undefined;
		if (hit.expiresAt <= this.now()) {
			this.entries.delete(key);
			return undefined;
		}
		return hit.entry;
	}

	remember(key: string, entry: LedgerEntry): void {
		this.entries.delete(key);
		this.entries.set(key, { entry, expiresAt: this.now() + this.ttlMs });
		this.prune();
	}

	private prune(): void {
		const now = this.now();
		// Insertion order is expiry order (every entry lives equally long).
		for (const [key, hit] of this.entries) {
			if (hit.expiresAt > now && this.entries.size <= this.maxEntries) break;
			this.entries.delete(key);
		}
	}
}

/** The one ledger of this n8n process. */
export const sentLedger = new SentLedger();

/** The addresses of a nodemailer address field (a string, an address object, or lists of them). */
export function flatAddresses(value: unknown): Array<{ name: string; address: string }> {
	if (Array.isArray(value)) return value.flatMap(flatAddresses);
	if (typeof value === 'string') return value ? [{ name: '', address: value }] : [];
	if (typeof value === 'object' && value !== null) {
		const address: unknown = Reflect.get(value, 'address');
		const name: unknown = Reflect.get(value, 'name');
		return typeof address === 'string' ? [{ name: typeof name === 'string' ? name : '', address }] : [];
	}
	return [];
}

function addressText(value: unknown): string {
	return flatAddresses(value).map((a) => a.address).join(',');
}

/** Same recipients, subject, bodies and attachment names: the same email. Hashed, nothing kept in clear. */
export function mailFingerprint(mail: MailOptions): string {
	const from = addressText(mail.from);
	const attachments = (mail.attachments ?? []).map((a) => `${a.filename ?? ''}|${a.contentType ?? ''}`);
	const parts = [from, addressText(mail.to), addressText(mail.cc), addressText(mail.bcc), String(mail.subject ?? ''), String(mail.html ?? ''), String(mail.text ?? ''), ...attachments];
	return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** The ledger key of one email of one run of a node in one execution. */
export function ledgerKey(parts: { executionId: string; node: string; runIndex: number; itemIndex: number; fingerprint: string }): string {
	return [parts.executionId, parts.node, parts.runIndex, parts.itemIndex, parts.fingerprint].join('\u0000');
}
