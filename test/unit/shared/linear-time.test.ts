/**
 * Every function that runs a pattern over item data, server replies or credential fields must take
 * time linear in its input: one item must never stall n8n's event loop. Each case times the function
 * on an adversarial input of size n and 4n: linear code takes about 4x as long, a backtracking
 * pattern 16x or more. The bound (under 10x, with a floor for tiny timings) leaves room for a
 * loaded 2-core machine; the inputs are large enough that a quadratic function needs seconds.
 */
import { performance } from 'node:perf_hooks';

import { renderReport, csvCell } from '../../../nodes/SendReportEmail/report';
import { bodies, htmlToText, isMimeType, parseAddressList, splitAddressList, validateHeaders } from '../../../nodes/SendReportEmail/message';
import { textOf } from '../../../nodes/SendReportEmail/fields';
import { aadstsCodes, describeImapError, describeSmtpError, describeTokenError, networkFailure } from '../../../nodes/shared/errors';
import { redact, redactValues } from '../../../nodes/shared/secrets';
import { checkMailboxSettings, isEmailAddress } from '../../../nodes/shared/settings';
import { readTokenClaims } from '../../../nodes/VerifyMailbox/claims';

const N = 30_000;
/** Below this a timing is mostly noise: ratios are taken from at least this many milliseconds. */
const FLOOR_MS = 8;
const MAX_RATIO = 10;

function quietly(work: () => unknown): void {
	try {
		work();
	} catch {
		// Refusals are fine: what counts is how long the function took to decide.
	}
}

function fastest(work: () => unknown): number {
	let best = Number.POSITIVE_INFINITY;
	for (let r = 0; r < 3; r++) {
		const started = performance.now();
		quietly(work);
		best = Math.min(best, performance.now() - started);
	}
	return best;
}

/** Times `run` on `make(N)` and `make(4N)`; returns the ratio (expected about 4 when linear). */
function growth<T>(make: (n: number) => T, run: (input: T) => unknown): { small: number; large: number; ratio: number } {
	const smallInput = make(N);
	const largeInput = make(4 * N);
	quietly(() => run(smallInput));
	const small = fastest(() => run(smallInput));
	const large = fastest(() => run(largeInput));
	return { small, large, ratio: large / Math.max(small, FLOOR_MS) };
}

const secrets = ['access-token-value-0123456789', 'refresh-token-value-abcdefgh', 'client-secret-value-1'];

const cases: Array<[string, (n: number) => string, (input: string) => unknown]> = [
	// The reviewer's two examples.
	['bodies(): format "both", HTML of `<style` text, no text part', (n) => '<style'.repeat(n / 2), (html) => bodies({ format: 'both', html })],
	['parseAddressList(): a To entry with 120,000-style runs of spaces', (n) => `a${' '.repeat(4 * n)}b`, (to) => parseAddressList(to, 'To')],
	['htmlToText(): `<` without `>`', (n) => '<'.repeat(4 * n), (html) => htmlToText(html)],
	['htmlToText(): unclosed <script> blocks', (n) => '<script>x'.repeat(n / 2), (html) => htmlToText(html)],
	['htmlToText(): spaces before no line break', (n) => `a${' '.repeat(4 * n)}b`, (html) => htmlToText(html)],
	['htmlToText(): spaces and tabs then many line breaks', (n) => ` \t\n`.repeat(n), (html) => htmlToText(html)],
	['htmlToText(): entity look-alikes', (n) => '&#'.repeat(2 * n), (html) => htmlToText(html)],
	['parseAddressList(): quotes without end', (n) => '"'.repeat(4 * n), (to) => parseAddressList(to, 'To')],
	['parseAddressList(): angle brackets', (n) => `${'<'.repeat(2 * n)}a@b.c>`, (to) => parseAddressList(to, 'To')],
	['parseAddressList(): dots in the domain', (n) => `a@${'.'.repeat(2 * n)} `, (to) => parseAddressList(to, 'To')],
	['parseAddressList(): many valid entries', (n) => 'a@b.example,'.repeat(n / 4), (to) => parseAddressList(to, 'To')],
	['parseAddressList(): quoted name with line breaks', (n) => `"${'a\n'.repeat(n)}" <a@b.c>`, (to) => parseAddressList(to, 'To')],
	['splitAddressList(): separators', (n) => ',;'.repeat(2 * n), (to) => splitAddressList(to)],
	['validateHeaders(): long name', (n) => `X-${'a'.repeat(4 * n)}:`, (name) => validateHeaders([{ name, value: 'v' }])],
	['validateHeaders(): long value of spaces', (n) => ' '.repeat(4 * n), (value) => validateHeaders([{ name: 'X-A', value }])],
	['isMimeType(): parameters without end', (n) => `text/csv${'; a=b'.repeat(n / 2)}`, (t) => isMimeType(t)],
	['isMimeType(): slashes', (n) => `${'a/'.repeat(2 * n)}`, (t) => isMimeType(t)],
	['csvCell(): formula-like number', (n) => `-${'1'.repeat(4 * n)}x`, (t) => csvCell(t)],
	['renderReport(): a cell of spaces without a line break', (n) => `${' '.repeat(4 * n)}x`, (cell) => renderReport([{ a: cell }])],
	['renderReport(): a cell of spaces and line breaks', (n) => ' \r\n '.repeat(n), (cell) => renderReport([{ a: cell }])],
	['isEmailAddress(): dots and a trailing space', (n) => `a@${'a.'.repeat(2 * n)} `, (a) => isEmailAddress(a)],
	['credential: Default Reply-To of `<`', (n) => '<'.repeat(4 * n), (replyTo) => checkMailboxSettings({ mailbox: 'a@b.example', replyTo })],
	['credential: tenant of dotted labels', (n) => `${'a.'.repeat(2 * n)}!`, (tenantId) => checkMailboxSettings({ mailbox: 'a@b.example', tenantId })],
	['credential: host of dotted labels', (n) => `${'a-.'.repeat(n)}!`, (smtpHost) => checkMailboxSettings({ mailbox: 'a@b.example', smtpHost })],
	['describeSmtpError(): long reply of digits', (n) => '5'.repeat(4 * n), (response) => describeSmtpError({ message: 'x', response })],
	['describeSmtpError(): enhanced-code look-alikes', (n) => '5.1.'.repeat(n), (response) => describeSmtpError({ message: 'x', response, responseCode: 550 })],
	['describeImapError(): long text', (n) => 'timed '.repeat(n), (responseText) => describeImapError({ message: 'x', responseText })],
	['networkFailure(): long text', (n) => 'E'.repeat(4 * n), (text) => networkFailure('smtp', 'ESOCKET', text)],
	['aadstsCodes() / describeTokenError(): AADSTS look-alikes', (n) => 'AADSTS1'.repeat(n / 2), (text) => describeTokenError({ text, body: aadstsCodes(text) })],
	['redact(): `eyJ` runs', (n) => 'eyJ'.repeat(n), (t) => redact(t, secrets)],
	['redact(): `eyJ` with dots', (n) => 'eyJaaaaaaaaaaa.'.repeat(n / 4), (t) => redact(t, secrets)],
	['redact(): Bearer and spaces', (n) => `Bearer${' '.repeat(4 * n)}!`, (t) => redact(t, secrets)],
	['redact(): access_token and spaces', (n) => `access_token${' '.repeat(4 * n)}!`, (t) => redact(t, secrets)],
	['redact(): AUTH XOAUTH2 repeated', (n) => 'AUTH XOAUTH2 '.repeat(n / 3), (t) => redact(t, secrets)],
	['redact(): base64 text', (n) => 'QUJD'.repeat(n), (t) => redact(t, secrets)],
	['redactValues(): many strings', (n) => 'access_token="x" '.repeat(n / 4), (t) => redactValues({ list: t.split(' ') }, secrets)],
	['textOf(): a long list', (n) => 'a'.repeat(n), (t) => textOf(t.split(''), 'To')],
	['readTokenClaims(): dots', (n) => '.'.repeat(4 * n), (t) => readTokenClaims(t)],
];

describe('input-facing functions take linear time', () => {
	it.each(cases)('%s', (_name, make, run) => {
		const { small, large, ratio } = growth(make, run);
		// Shown on failure: the timings behind the ratio.
		expect({ ratio: ratio < MAX_RATIO ? 'linear' : ratio, small: Math.round(small), large: Math.round(large) }).toMatchObject({ ratio: 'linear' });
	});

	it('renderReport(): 130,000 rows render without a stack overflow, in time linear in the rows', () => {
		const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, name: `row ${i}`, note: i % 7 ? 'ok' : 'line\nbreak' }));
		const report = renderReport(rows(130_000));
		expect(report.csv.split('\r\n')).toHaveLength(130_002);
		const { ratio } = growth((n) => rows(n), (r) => renderReport(r));
		expect(ratio).toBeLessThan(MAX_RATIO);
	});
});
