/**
 * A batch never sends an email twice and never half-way on bad input: every item is checked before
 * the first message goes out, a mid-batch failure says what went out, and n8n's own Retry On Fail
 * (WorkflowExecute runs execute() again) does not resend what the server accepted.
 */
import type { INodeParameters } from 'n8n-workflow';

import { chain, runWorkflow } from '../../support/engine';
import { NODE, USER, b64, runSend, startBed, storeFor, type Bed, type Item } from './fixture';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => bed.smtp.reset());

const subjects = () => bed.smtp.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]?.trim());
const perItem: INodeParameters = { to: '={{ $json.to }}', subject: '={{ "item " + $json.n }}', options: { from: '={{ $json.from || "" }}' } };
const three = (overrides: Record<number, Record<string, string>>): Item[] =>
	[1, 2, 3].map((n) => ({ json: { n, to: `rcpt${n}@example.test`, ...(overrides[n] ?? {}) } }));

describe('bad input anywhere in the batch sends nothing', () => {
	it.each([
		['an address that is not one', { 2: { to: 'bob at example' } }, /To: "bob at example" is not an email address/],
		['a header injection in the subject', { 3: { n: '3\r\nBcc: evil@example.test' } }, /Subject: contains a line break/],
		['a From that is not an address', { 3: { from: 'reports@' } }, /From: "reports@" is not an email address/],
	])('%s: the node fails before the first message, naming the item', async (_name, overrides, message) => {
		const out = await runSend(storeFor(bed), three(overrides), perItem);
		expect(out.error?.message).toMatch(message);
		expect(bed.smtp.messages).toHaveLength(0);
		expect(bed.smtp.connections).toBe(0);
	});

	it('a binary missing on the last item stops the batch before anything is sent', async () => {
		const items: Item[] = [
			{ json: { n: 1, to: 'a@example.test' }, binary: { file: { base64: b64('one'), fileName: 'one.txt', mimeType: 'text/plain' } } },
			{ json: { n: 2, to: 'b@example.test' } },
		];
		const out = await runSend(storeFor(bed), items, { ...perItem, attachments: 'file' });
		expect(out.error?.message).toMatch(/Attachments: item 2 has no binary property "file"/);
		expect(bed.smtp.messages).toHaveLength(0);
	});

	it('too big a message on one item: nothing sent', async () => {
		const items: Item[] = [
			{ json: { n: 1, to: 'a@example.test' } },
			{ json: { n: 2, to: 'b@example.test' }, binary: { file: { base64: b64(Buffer.alloc(1_200_000, 1)), fileName: 'big.bin', mimeType: 'application/octet-stream' } } },
		];
		const out = await runSend(storeFor(bed), items, { ...perItem, attachments: '={{ $json.n === 2 ? "file" : "" }}', options: { maxMessageSizeMb: 1 } });
		expect(out.error?.message).toMatch(/^Attachments: the message would be about/);
		expect(bed.smtp.messages).toHaveLength(0);
	});

	it('under Continue On Fail the bad item outputs its error in place and the good ones go', async () => {
		const out = await runSend(storeFor(bed), three({ 2: { to: 'bob at example' } }), perItem, { continueOnFail: true });
		expect(out.items.map((i) => i.json.code ?? 'sent')).toEqual(['sent', 'INVALID_INPUT', 'sent']);
		expect(out.items[1].json.error).toMatch(/To: "bob at example"/);
		expect(out.items.map((i) => i.pairedItem)).toEqual([[{ item: 0 }], [{ item: 1 }], [{ item: 2 }]]);
		expect(subjects().sort()).toEqual(['item 1', 'item 3']);
	});
});

describe('a send that fails mid-batch', () => {
	it('says how many of how many went out, with their Message-IDs', async () => {
		// Item 2 sends as an address alice@ may not use: the server refuses it at MAIL FROM.
		const out = await runSend(storeFor(bed), three({ 2: { from: 'reports@example.test' } }), perItem);
		const sent = bed.smtp.messages.map((m) => /^Message-ID: (.*)$/im.exec(m.raw.toString())?.[1]?.trim() ?? '');
		expect(sent.length).toBeGreaterThanOrEqual(1);
		expect(out.error?.message).toBe(`SMTP: ${USER} signed in, but may not send as reports@example.test (it needs Send As on that address). (${sent.length} of 3 emails were sent before this failure.)`);
		const description = String(out.error?.description);
		for (const id of sent) expect(description).toContain(id.replace(/</g, '&lt;').replace(/>/g, '&gt;'));
		// The fix-it command names the real addresses, escaped so n8n's HTML panel shows them.
		expect(description).toContain(`Add-RecipientPermission -Identity reports@example.test -Trustee ${USER} -AccessRights SendAs`);
		expect(description).toContain('Server said: 550 5.7.60 SMTP; Client does not have permissions to send as this sender');
	});
});

describe("n8n's Retry On Fail", () => {
	function retryingWorkflow(items: Item[], continueOnFail = false) {
		return chain(items, {
			name: NODE,
			type: 'n8n-nodes-m365-mail.sendReportEmail',
			parameters: { html: '<p>Hello</p>', ...perItem },
			credentials: { microsoftMailOAuth2Api: { id: 'cred-1', name: 'M365 reports' } },
			retryOnFail: true,
			maxTries: 3,
			waitBetweenTries: 1000,
			...(continueOnFail ? { onError: 'continueRegularOutput' as const } : {}),
		});
	}

	it('a failure that stays: every try fails, yet items 1 and 3 were delivered exactly once', async () => {
		const { nodes, connections } = retryingWorkflow(three({ 2: { from: 'reports@example.test' } }));
		const result = await runWorkflow({ nodes, connections, store: storeFor(bed) });
		expect(result.error(NODE)?.message).toMatch(/\(2 of 3 emails were sent before this failure\.\)$/);
		// Three tries of the node: item 2 was refused at MAIL FROM each time.
		expect(bed.smtp.commands.filter((c) => c.stage === 'mail')).toHaveLength(2 + 3);
		expect(subjects().sort()).toEqual(['item 1', 'item 3']);
	});

	it('a failure that clears: the retry sends only the missing item and outputs the first results of the others', async () => {
		const { nodes, connections } = retryingWorkflow(three({ 2: { from: 'reports@example.test' } }));
		const running = runWorkflow({ nodes, connections, store: storeFor(bed) });
		// After the first try (items 1 and 3 accepted, item 2 refused), the admin grants Send As.
		await bed.smtp.waitForMessages(2, 20_000);
		while (bed.smtp.commands.filter((c) => c.stage === 'mail').length < 3) await new Promise((r) => setTimeout(r, 20));
		await new Promise((r) => setTimeout(r, 50));
		bed.smtp.allowSendAs(USER, 'reports@example.test');
		const result = await running;
		expect(result.error(NODE)).toBeUndefined();
		const out = result.output(NODE);
		expect(subjects().sort()).toEqual(['item 1', 'item 2', 'item 3']);
		const delivered = new Map(bed.smtp.messages.map((m) => [/^Subject: (.*)$/m.exec(m.raw.toString())?.[1]?.trim(), /^Message-ID: (.*)$/im.exec(m.raw.toString())?.[1]?.trim()]));
		expect(out.map((i) => i.json.messageId)).toEqual([delivered.get('item 1'), delivered.get('item 2'), delivered.get('item 3')]);
	});

	it('under Continue On Fail too (n8n retries when the first item is an error): nothing doubles', async () => {
		const { nodes, connections } = retryingWorkflow(three({ 1: { to: 'bob at example' } }), true);
		const result = await runWorkflow({ nodes, connections, store: storeFor(bed) });
		const out = result.output(NODE);
		expect(out.map((i) => i.json.code ?? 'sent')).toEqual(['INVALID_INPUT', 'sent', 'sent']);
		expect(subjects().sort()).toEqual(['item 2', 'item 3']);
	});

	it('a later run of the workflow (a new execution) sends again: the memory is per execution', async () => {
		const items = three({});
		await runSend(storeFor(bed), items, perItem);
		await runSend(storeFor(bed), items, perItem);
		expect(subjects()).toHaveLength(6);
	});
});
