/**
 * The shape of a verification and the rules that turn check results into it. The deadline runner
 * lives here too: every check runs inside one, so a dead or stalled server gives Not Verified in time.
 */
import type { IDataObject } from 'n8n-workflow';

import { MailError, type MailFailure } from '../shared/errors';
import { failureOf, fillHint, type HintContext } from '../shared/node-errors';

export type CheckName = 'token' | 'smtp' | 'imap' | 'roundTrip';
export const CHECK_ORDER: readonly CheckName[] = ['token', 'smtp', 'imap', 'roundTrip'];

export interface CheckResult {
	name: CheckName;
	status: 'ok' | 'failed' | 'skipped';
	durationMs: number;
	detail: string;
	/** Facts a workflow can use (folders, counts, expiry...); never a secret. */
	facts?: IDataObject;
	failure?: MailFailure;
}

/** Keys in the order n8n's table view shows them: the verdict and what to do first, details after. */
export interface Verification {
	status: 'Verified' | 'Not Verified';
	failedCheck: CheckName | null;
	reason: string | null;
	hint: string | null;
	code: string | null;
	mailbox: string;
	hosts: { smtp: string; imap: string };
	checks: IDataObject[];
	notes: string[];
}

const LABEL: Record<CheckName, string> = { token: 'Token', smtp: 'SMTP', imap: 'IMAP', roundTrip: 'Round trip' };

export function skipped(name: CheckName, detail: string): CheckResult {
	return { name, status: 'skipped', durationMs: 0, detail };
}

/** A check that ran out of time, in the catalogue's words. */
export function timeoutFailure(name: CheckName, seconds: number, where: string): MailFailure {
	return {
		source: name === 'token' ? 'token' : name === 'smtp' ? 'smtp' : 'imap',
		code: `${name.toUpperCase()}_TIMEOUT`,
		message: `${LABEL[name]} check did not finish within ${seconds} s (${where}).`,
		hint:
			name === 'token'
				? 'The token endpoint did not answer in time: check that the n8n server reaches the sign-in host (proxy, firewall, DNS).'
				: `Check that the n8n server reaches ${where} (firewall, proxy, host and port in the credential). A server that accepts the connection but never answers also ends here.`,
		retryable: true,
	};
}

/** Holds what a check opened, so it is closed even when the deadline struck first. */
export class CheckScope {
	private readonly closers: Array<() => Promise<void> | void> = [];

	private closed = false;

	/** Registers a resource; one that arrives after the deadline is closed at once. */
	adopt<T>(resource: T, close: (r: T) => Promise<void> | void): T {
		if (this.closed) void Promise.resolve(close(resource)).catch(() => undefined);
		else this.closers.push(() => close(resource));
		return resource;
	}

	async dispose(): Promise<void> {
		this.closed = true;
		const closers = this.closers.splice(0).reverse();
		await Promise.all(closers.map(async (c) => await Promise.resolve(c()).catch(() => undefined)));
	}
}

export interface CheckWork {
	detail: string;
	facts?: IDataObject;
}

/** Runs one check with a deadline; any failure becomes a failed result, never an exception. */
export async function runCheck(
	name: CheckName,
	timeoutMs: number,
	where: string,
	work: (scope: CheckScope) => Promise<CheckWork>,
	secrets: string[] = [],
): Promise<CheckResult> {
	const started = Date.now();
	const scope = new CheckScope();
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new MailError(timeoutFailure(name, Math.round(timeoutMs / 100) / 10, where))), timeoutMs);
	});
	const running = work(scope);
	running.catch(() => undefined);
	try {
		const done = await Promise.race([running, deadline]);
		return { name, status: 'ok', durationMs: Date.now() - started, detail: done.detail, ...(done.facts ? { facts: done.facts } : {}) };
	} catch (e) {
		const failure = failureOf(e, secrets);
		return { name, status: 'failed', durationMs: Date.now() - started, detail: failure.message, failure };
	} finally {
		clearTimeout(timer);
		await scope.dispose();
	}
}

/** A hint as Verify Mailbox shows it: real mailbox, and no advice to run the node the user is running. */
export function verifyHint(hint: string, context: HintContext): string {
	return fillHint(hint, context)
		.replace(/\s*Then run Verify Mailbox\b[^.]*\./g, '')
		.replace(/,? (?:then|and) run Verify Mailbox\b[^.]*\./g, '.')
		.trim();
}

function checkJson(r: CheckResult, context: HintContext): IDataObject {
	return {
		name: r.name,
		status: r.status,
		durationMs: r.durationMs,
		detail: r.detail,
		...(r.failure ? { code: r.failure.code, hint: verifyHint(r.failure.hint, context), ...(r.failure.serverResponse ? { serverResponse: r.failure.serverResponse } : {}) } : {}),
		...(r.facts ?? {}),
	};
}

/** Server words appended to the message when they add something. */
export function reasonOf(f: MailFailure): string {
	const said = f.serverResponse?.trim();
	return said && !f.message.includes(said) ? `${f.message} Server said: ${said}` : f.message;
}

/** Verified only when every check that ran is ok; the first failure names the gate. */
export function summarize(input: { mailbox: string; grantType?: HintContext['grantType']; hosts: Verification['hosts']; results: CheckResult[]; notes: string[] }): Verification {
	const context: HintContext = { mailbox: input.mailbox, grantType: input.grantType };
	const results = [...input.results].sort((a, b) => CHECK_ORDER.indexOf(a.name) - CHECK_ORDER.indexOf(b.name));
	const failed = results.find((r) => r.status === 'failed');
	const f = failed?.failure;
	// A note from the token's claims often is the real cause of a later refusal: put it first.
	// Not for a temporary failure: nothing about the token or the permissions caused it.
	const hint = f ? [...(failed.name === 'token' || f.retryable ? [] : input.notes), verifyHint(f.hint, context)].join(' ') : null;
	return {
		status: failed ? 'Not Verified' : 'Verified',
		failedCheck: failed ? failed.name : null,
		reason: f ? reasonOf(f) : null,
		hint,
		code: f ? f.code : null,
		mailbox: input.mailbox,
		hosts: input.hosts,
		checks: results.map((r) => checkJson(r, context)),
		notes: input.notes,
	};
}
