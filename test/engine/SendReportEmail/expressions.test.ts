/**
 * Parameters as expressions deliver them: every one the node reads is type-checked and refused with
 * the field's name (never `.trim is not a function`); retries are held to the editor's maximum;
 * item keys are read as the item's own properties only. The backoff is shortened for speed.
 */
jest.mock('../../../nodes/shared/constants', () => {
	const actual: typeof import('../../../nodes/shared/constants') = jest.requireActual('../../../nodes/shared/constants');
	return { ...actual, SMTP_RETRY: { attempts: 3, baseDelayMs: 20, maxDelayMs: 50 } };
});

import type { INodeParameters } from 'n8n-workflow';

import { runSend, startBed, storeFor, type Bed } from './fixture';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => {
	bed.smtp.reset();
	bed.idp.reset();
});

describe('parameters from expressions are type-checked, naming the field', () => {
	const cases: Array<[string, INodeParameters, RegExp]> = [
		['a custom header name that is a number', { options: { customHeaders: { header: [{ name: '={{ 42 }}', value: 'x' }] } } }, /^Custom header name: the expression gave a number \(42\), not text/],
		['a custom header value that is an object', { options: { customHeaders: { header: [{ name: 'X-Id', value: '={{ { a: 1 } }}' }] } } }, /^Custom header "X-Id" value: the expression gave an object/],
		['a report column field that is a number', { mode: 'report', reportColumns: { column: [{ field: '={{ 5 }}' }] } }, /^Column field: the expression gave a number \(5\)/],
		['a report column title that is a list', { mode: 'report', reportColumns: { column: [{ field: 'a', title: '={{ [1, 2] }}' }] } }, /^Column "a" title: the expression gave a list/],
		['retries that are not a number', { options: { retries: '={{ "many" }}' } }, /^Options > Retries on Temporary Failures: .*not a whole number from 0 to 5/],
		['a max message size that is not a number', { options: { maxMessageSizeMb: '={{ "big" }}' } }, /^Options > Max Message Size \(MB\): .*not a number/],
		['an email format that is not a choice', { emailFormat: '={{ 3 }}' }, /^Email Format: the expression gave a number \(3\), not one of html, text, both/],
		['an importance that is not a choice', { options: { importance: '={{ "urgent" }}' } }, /^Options > Importance: .*not one of normal, high, low/],
	];
	it.each(cases)('%s', async (_title, parameters, message) => {
		const out = await runSend(storeFor(bed), [{ json: { a: 1 } }], parameters, { continueOnFail: true });
		expect(out.error).toBeUndefined();
		expect(out.items[0].json).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringMatching(message) });
		expect(bed.smtp.messages).toHaveLength(0);
	});

	it('retries from an expression are held to the editor\'s maximum of 5', async () => {
		bed.smtp.failNext('rcpt', { code: 451, text: '4.7.500 Server busy. Please try again later' }, 10);
		const out = await runSend(storeFor(bed), [{ json: {} }], { options: { retries: '={{ 12 }}' } }, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'SMTP_TEMPORARY_FAILURE' });
		expect(bed.smtp.commands.filter((c) => c.stage === 'rcpt')).toHaveLength(6);
	});

	it('a report column reads the item\'s own keys only: `constructor` on items without it is empty', async () => {
		const out = await runSend(storeFor(bed), [{ json: { name: 'x' } }, { json: { name: 'y', constructor: 'set' } }], {
			mode: 'report', reportOutput: 'csv', reportColumns: { column: [{ field: 'name' }, { field: 'constructor' }, { field: 'name.toString' }] },
		});
		expect(out.error).toBeUndefined();
		const mail = await bed.smtp.parsed(0);
		const csv = mail.attachments[0].content.toString('utf8').replace(/^\uFEFF/, '');
		expect(csv).toBe('name,constructor,name.toString\r\nx,,\r\ny,set,\r\n');
		expect(csv).not.toMatch(/native code/);
	});
});
