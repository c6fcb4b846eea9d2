/**
 * Fault-injection and bad-input suite (issue 6). Every case runs through n8n's real
 * WorkflowExecute against loopback servers; the ledger counts what the servers received and scans
 * everything a user or operator could read for secrets. The last test prints the table and fails
 * the suite when a message was lost or duplicated or a secret leaked.
 *
 * Send Report Email has no timeout or backoff options, so this file shortens the package's
 * defaults (15 s connect/greeting, 60 s socket, 2 s base backoff) for speed; the code paths are
 * the same. Verify Mailbox faults use its own Check Timeout option.
 */
jest.mock('../../nodes/shared/constants', () => {
	const actual: typeof import('../../nodes/shared/constants') = jest.requireActual('../../nodes/shared/constants');
	return {
		...actual,
		DEFAULT_TIMEOUTS: { connectMs: 1500, greetingMs: 1500, socketMs: 2000 },
		SMTP_RETRY: { attempts: 3, baseDelayMs: 40, maxDelayMs: 200 },
	};
});

import { captureLogs, ledger, report } from './support/ledger';

const restore = captureLogs();
afterAll(() => restore());

import './idp.faults';
import './smtp.faults';
import './imap.faults';
import './input.faults';
import './credential.faults';
import './concurrency.faults';
import './hardening.faults';
import './trigger.faults';

describe('totals', () => {
	it('nothing lost, nothing duplicated, no secret leaked', () => {
		const r = report();
		process.stdout.write(`\n${r.table}\n\n`);
		expect(ledger.rows.filter((x) => x.kind === 'input').length).toBeGreaterThanOrEqual(40);
		expect({ lost: r.lost, duplicated: r.duplicated, leaked: r.leaked, failedRows: r.failedRows }).toEqual({ lost: 0, duplicated: 0, leaked: 0, failedRows: 0 });
	});
});
