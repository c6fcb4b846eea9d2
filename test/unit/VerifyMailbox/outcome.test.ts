import { MailError } from '../../../nodes/shared/errors';
import { reasonOf, runCheck, skipped, summarize, type CheckResult } from '../../../nodes/VerifyMailbox/outcome';
import { probeMessage } from '../../../nodes/VerifyMailbox/checks';

const hosts = { smtp: 'smtp.office365.com:587', imap: 'outlook.office365.com:993' };
const failure = { source: 'smtp' as const, code: 'SMTP_AUTH_DISABLED', message: 'SMTP AUTH is turned off.', hint: 'Run Set-CASMailbox.', retryable: false, serverResponse: '535 5.7.139 disabled' };

describe('summarize', () => {
	it('is Verified when nothing failed, skipped checks included', () => {
		const results: CheckResult[] = [
			{ name: 'token', status: 'ok', durationMs: 1, detail: 'fresh' },
			skipped('roundTrip', 'Not selected'),
		];
		expect(summarize({ mailbox: 'a@x.test', hosts, results, notes: [] })).toMatchObject({ status: 'Verified', failedCheck: null, reason: null, hint: null });
	});

	it('names the first failed check in check order, with reason, hint and the token notes first', () => {
		const results: CheckResult[] = [
			{ name: 'imap', status: 'failed', durationMs: 1, detail: 'x', failure: { ...failure, source: 'imap', code: 'IMAP_AUTH_REJECTED' } },
			{ name: 'smtp', status: 'failed', durationMs: 1, detail: 'y', failure },
			{ name: 'token', status: 'ok', durationMs: 1, detail: 'fresh' },
		];
		const v = summarize({ mailbox: 'a@x.test', hosts, results, notes: ['No SMTP.Send scope.'] });
		expect(v).toMatchObject({ status: 'Not Verified', failedCheck: 'smtp', code: 'SMTP_AUTH_DISABLED', reason: 'SMTP AUTH is turned off. Server said: 535 5.7.139 disabled', hint: 'No SMTP.Send scope. Run Set-CASMailbox.' });
		expect(v.checks.map((c) => c.name)).toEqual(['token', 'smtp', 'imap']);
	});

	it('does not repeat the server words already in the message', () => {
		expect(reasonOf({ ...failure, message: 'Refused: 535 5.7.139 disabled' })).toBe('Refused: 535 5.7.139 disabled');
	});
});

describe('runCheck', () => {
	it('turns a MailError into a failed check and closes what the check opened', async () => {
		const closed: string[] = [];
		const r = await runCheck('smtp', 1000, 'h:1', async (scope) => {
			scope.adopt('conn', (c) => void closed.push(c));
			throw new MailError(failure);
		});
		expect(r).toMatchObject({ name: 'smtp', status: 'failed', detail: failure.message, failure: { code: 'SMTP_AUTH_DISABLED' } });
		expect(closed).toEqual(['conn']);
	});

	it('gives up at the deadline and closes a resource that arrives later', async () => {
		const closed: string[] = [];
		let late: Promise<void> = Promise.resolve();
		const started = Date.now();
		const r = await runCheck('imap', 50, 'h:993', async (scope) => {
			late = new Promise<void>((resolve) => setTimeout(resolve, 1500)).then(() => void scope.adopt('late', (c) => void closed.push(c)));
			await late;
			return { detail: 'never' };
		});
		// the check ends at its 50 ms deadline, long before the work would (1.5 s); generous for a loaded CI
		expect(Date.now() - started).toBeLessThan(1000);
		expect(r).toMatchObject({ status: 'failed', failure: { code: 'IMAP_TIMEOUT', retryable: true } });
		expect(r.detail).toMatch(/within 0\.1 s \(h:993\)|within 0\.05 s|within 0 s/);
		await late;
		expect(closed).toEqual(['late']);
	});
});

describe('probeMessage', () => {
	it('is to and from the mailbox, with a unique Message-ID and no auto-replies', () => {
		const a = probeMessage('reports@contoso.com');
		const b = probeMessage('reports@contoso.com');
		expect(a.mail).toMatchObject({ from: 'reports@contoso.com', to: 'reports@contoso.com', headers: { 'Auto-Submitted': 'auto-generated' } });
		expect(a.messageId).toMatch(/^<verify-mailbox-[0-9a-f-]+@contoso\.com>$/);
		expect(a.messageId).not.toBe(b.messageId);
	});
});

describe('what Not Verified shows in the table view', () => {
	const rejected = { source: 'smtp' as const, code: 'SMTP_AUTH_REJECTED', message: 'Rejected.', retryable: false, hint: "Check that the token was issued for this mailbox: delegated, the signed-in user must be the mailbox or have Full Access and Send As on it, with SMTP.Send consented; app-only, register the app's service principal in Exchange (New-ServicePrincipal) and grant it Add-MailboxPermission on the mailbox. Then run Verify Mailbox." };
	const results: CheckResult[] = [
		{ name: 'token', status: 'ok', durationMs: 1, detail: 'fresh' },
		{ name: 'smtp', status: 'failed', durationMs: 1, detail: 'Rejected.', failure: rejected },
	];

	it('reads status, failed check, reason, hint first, then the details', () => {
		expect(Object.keys(summarize({ mailbox: 'a@x.test', hosts, results, notes: [] }))).toEqual(['status', 'failedCheck', 'reason', 'hint', 'code', 'mailbox', 'hosts', 'checks', 'notes']);
	});

	it.each([
		['authorizationCode', /Full Access and Send As/, /New-ServicePrincipal/],
		['clientCredentials', /New-ServicePrincipal/, /signed-in user/],
	] as const)('%s: only that grant type\'s advice, and no "run Verify Mailbox" inside Verify Mailbox', (grantType, shown, hidden) => {
		const v = summarize({ mailbox: 'a@x.test', grantType, hosts, results, notes: [] });
		for (const hint of [String(v.hint), String(v.checks[1].hint)]) {
			expect(hint).toMatch(shown);
			expect(hint).not.toMatch(hidden);
			expect(hint).not.toMatch(/Verify Mailbox/);
		}
	});
});
