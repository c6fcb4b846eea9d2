/**
 * The suite's ledger: one row per fault or bad input tried, the messages the servers counted, and
 * every text a user or an operator could see (outputs, errors, descriptions, console and n8n
 * LoggerProxy lines), scanned at the end for every secret the suite handed out.
 */
import { LoggerProxy, type IDataObject } from 'n8n-workflow';

import type { CredentialStore } from '../../support/engine';

export type Area = 'IdP' | 'SMTP' | 'IMAP' | 'Postfix' | 'Concurrency' | 'Input' | 'Credential' | 'Stall' | 'Handles' | 'Trigger';

export interface Row {
	area: Area;
	kind: 'fault' | 'input';
	tried: string;
	/** What the user saw, e.g. `retried, sent (attempts 2)` or `refused: To (INVALID_INPUT)`. */
	outcome: string;
	/** Messages the test expected on the server / counted there (distinct Message-IDs). */
	expected: number;
	delivered: number;
	duplicates: number;
	/** For bad input: the item was refused (error naming the field) rather than sent as designed. */
	refused?: boolean;
	passed: boolean;
}

const rows: Row[] = [];
const texts: string[] = [];
const stores: CredentialStore[] = [];
const extraSecrets = new Set<string>();

export const ledger = {
	rows,
	record(row: Omit<Row, 'passed'> & { passed?: boolean }): void {
		rows.push({ passed: true, ...row });
	},
	/** Anything a user or operator could read. */
	see(...values: unknown[]): void {
		for (const v of values) if (v !== undefined && v !== null) texts.push(typeof v === 'string' ? v : safeJson(v));
	},
	/** Credential stores whose secrets (client secret, every token stored or refreshed) must never show. */
	watch<T extends CredentialStore>(store: T): T {
		stores.push(store);
		return store;
	},
	secret(value: string | undefined): void {
		if (value && value.length >= 8) extraSecrets.add(value);
	},
};

function safeJson(v: unknown): string {
	try {
		const seen = new WeakSet<object>();
		return JSON.stringify(v, (_k, value: unknown) => {
			if (typeof value === 'object' && value !== null) {
				if (seen.has(value)) return '[circular]';
				seen.add(value);
			}
			if (value instanceof Error) return { ...value, message: value.message, stack: value.stack };
			return value;
		});
	} catch {
		return String(v);
	}
}

/** Every secret value seen in any watched store (including tokens rotated in by refreshes). */
export function allSecrets(): string[] {
	const out = new Set(extraSecrets);
	const visit = (data: IDataObject | undefined) => {
		if (!data) return;
		for (const [k, v] of Object.entries(data)) {
			if (typeof v === 'string' && /secret|token/i.test(k) && v.length >= 8) out.add(v);
			else if (v && typeof v === 'object' && !Array.isArray(v)) visit(v as IDataObject);
		}
	};
	for (const s of stores) {
		for (const c of s.credentials.values()) visit(c.data as IDataObject);
		for (const u of s.tokenUpdates) visit(u.oauthTokenData);
	}
	return [...out];
}

/** Runs of base64 characters long enough to carry a secret (XOAUTH2 and OAUTHBEARER strings are base64). */
const BASE64_RUN = /[A-Za-z0-9+/]{12,}={0,2}/g;

/** Each base64 run of `text` decoded from each of its four character offsets (one lines up with the encoder's groups). */
function decodedRuns(text: string): Array<{ at: number; bytes: string }> {
	const out: Array<{ at: number; bytes: string }> = [];
	for (const run of text.matchAll(BASE64_RUN))
		for (let offset = 0; offset < 4; offset++) {
			const chars = run[0].slice(offset).replace(/=+$/, '');
			out.push({ at: run.index, bytes: Buffer.from(chars.slice(0, chars.length - (chars.length % 4)), 'base64').toString('latin1') });
		}
	return out;
}

/**
 * Every (secret, text) pair where the secret shows, in any form the package puts on the wire: raw,
 * URL-encoded, or inside base64 at any alignment. Independent of the package's own masking: a token
 * inside `user=...\x01auth=Bearer <token>\x01\x01` is found whatever the length of the user name.
 */
export function scan(textList: string[], secrets: string[]): Array<{ secret: string; where: string }> {
	const found: Array<{ secret: string; where: string }> = [];
	for (const text of textList) {
		let decoded: Array<{ at: number; bytes: string }> | undefined;
		for (const secret of secrets) {
			let at = [secret, encodeURIComponent(secret)].map((form) => text.indexOf(form)).find((i) => i >= 0) ?? -1;
			if (at < 0) {
				decoded ??= decodedRuns(text);
				const latin = Buffer.from(secret).toString('latin1');
				at = decoded.find((d) => d.bytes.includes(latin))?.at ?? -1;
			}
			if (at >= 0) found.push({ secret: `${secret.slice(0, 6)}...`, where: text.slice(Math.max(0, at - 60), at + 20) });
		}
	}
	return found;
}

/** Scans every collected text for every secret, raw, URL-encoded and base64 at any offset. */
export function leaks(): Array<{ secret: string; where: string }> {
	return scan(texts, allSecrets());
}

export function textsScanned(): number {
	return texts.length;
}

/** Captures console output and n8n's LoggerProxy (what n8n writes to its log) into the scan. */
export function captureLogs(): () => void {
	const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
	const originals = methods.map((m) => console[m]);
	methods.forEach((m, i) => {
		console[m] = (...args: unknown[]) => {
			texts.push(args.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' '));
			originals[i].apply(console, args);
		};
	});
	const logged = (level: string) => (message: string, meta?: object) => {
		texts.push(`${level} ${message} ${meta ? safeJson(meta) : ''}`);
	};
	LoggerProxy.init({ error: logged('error'), warn: logged('warn'), info: logged('info'), debug: logged('debug') });
	return () => methods.forEach((m, i) => (console[m] = originals[i]));
}

/** The table and totals; returns the three numbers that must be 0. */
export function report(): { lost: number; duplicated: number; leaked: number; failedRows: number; table: string } {
	const faults = rows.filter((r) => r.kind === 'fault');
	const inputs = rows.filter((r) => r.kind === 'input');
	const lost = rows.reduce((n, r) => n + Math.max(0, r.expected - r.delivered), 0);
	const duplicated = rows.reduce((n, r) => n + r.duplicates, 0);
	const leakList = leaks();
	const w = { area: 11, tried: 62, outcome: 70 };
	const line = (a: string, t: string, o: string, d: string) =>
		`${a.padEnd(w.area)} | ${t.slice(0, w.tried).padEnd(w.tried)} | ${o.slice(0, w.outcome).padEnd(w.outcome)} | ${d}`;
	const out = [
		line('Area', 'What was tried', 'How it ended', 'sent/expected dup ok'),
		'-'.repeat(w.area + w.tried + w.outcome + 30),
		...rows.map((r) => line(r.area, r.tried, r.outcome, `${r.delivered}/${r.expected} ${r.duplicates} ${r.passed ? 'yes' : 'NO'}`)),
		'',
		`Faults injected: ${faults.length}, survived: ${faults.filter((r) => r.passed).length}`,
		`Bad inputs tried: ${inputs.length}, refused with the field named: ${inputs.filter((r) => r.passed && r.refused).length}, sent safely as designed: ${inputs.filter((r) => r.passed && !r.refused).length}`,
		`Messages lost: ${lost}`,
		`Messages duplicated: ${duplicated}`,
		`Secrets leaked: ${leakList.length} (${allSecrets().length} secrets x ${texts.length} texts scanned)`,
		...leakList.slice(0, 5).map((l) => `  leak of ${l.secret} in: ${l.where}`),
	];
	return { lost, duplicated, leaked: leakList.length, failedRows: rows.filter((r) => !r.passed).length, table: out.join('\n') };
}
