/** What a recipient sees: the MIME the node sends through n8n's engine, parsed with mailparser. */
import { randomBytes } from 'node:crypto';

import { b64, runSend, startBed, storeFor, USER, type Bed } from './fixture';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => bed.smtp.reset());

describe('one email per item', () => {
	it('sends both body formats with signature, From, Reply-To, CC and importance', async () => {
		const store = storeFor(bed, { signature: '<b>Reports team</b><br>Contoso', replyTo: 'helpdesk@example.test' });
		const out = await runSend(store, [{ json: { name: 'Ann' } }], {
			to: '"Doe, Jane" <jane@example.test>, Zoë Müller <info@bücher.example>',
			subject: '={{ "Hello " + $json.name + " — Grüße" }}',
			emailFormat: 'both',
			html: '<p>Hi <i>there</i></p>',
			text: 'Hi there',
			options: { cc: 'Carl <carl@example.test>', importance: 'high', customHeaders: { header: [{ name: 'X-Report-Id', value: 'r-42' }] } },
		});
		expect(out.error).toBeUndefined();
		expect(out.items).toHaveLength(1);
		const mail = await bed.smtp.parsed(0);
		expect(mail.subject).toBe('Hello Ann — Grüße');
		expect(mail.from?.value).toEqual([{ address: USER, name: '' }]);
		expect(mail.replyTo?.value[0].address).toBe('helpdesk@example.test');
		const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
		expect(to?.value).toEqual([
			{ address: 'jane@example.test', name: 'Doe, Jane' },
			{ address: 'info@bücher.example', name: 'Zoë Müller' },
		]);
		// The domain travels as punycode (mailparser shows it decoded); the name MIME-encoded.
		expect(bed.smtp.messages[0].raw.toString()).toContain('<info@xn--bcher-kva.example>');
		expect(mail.html).toContain('<p>Hi <i>there</i></p>');
		expect(mail.html).toContain('<b>Reports team</b><br>Contoso');
		expect(mail.text).toBe('Hi there\n\n-- \nReports team\nContoso');
		expect(mail.headers.get('x-report-id')).toBe('r-42');
		expect(bed.smtp.messages[0].raw.toString()).toMatch(/^X-Priority: 1 /m);
		expect(bed.smtp.messages[0].raw.toString()).toMatch(/^Importance: High\r$/m);
		const [received] = bed.smtp.messages;
		// smtp-server shows envelope domains decoded
		expect(received.envelope.rcptTo.sort()).toEqual(['carl@example.test', 'info@bücher.example', 'jane@example.test']);
		const json = out.items[0].json;
		expect(json.messageId).toBe(mail.messageId);
		expect(json.accepted).toEqual(expect.arrayContaining(['jane@example.test', 'carl@example.test']));
		expect(json.rejected).toEqual([]);
		expect(String(json.response)).toMatch(/^250/);
		expect(json.envelope).toEqual({ from: USER, to: expect.any(Array) });
		expect(out.items[0].pairedItem).toEqual([{ item: 0 }]);
	});

	it('keeps attachments byte for byte and embeds inline images by cid', async () => {
		const pdf = randomBytes(300_000);
		const png = randomBytes(2000);
		const out = await runSend(storeFor(bed), [{ json: {}, binary: {
			report: { base64: b64(pdf), fileName: 'Q3 report.pdf', mimeType: 'application/pdf' },
			logo: { base64: b64(png), fileName: 'logo.png', mimeType: 'image/png' },
		} }], {
			html: '<img src="cid:logo"><p>See attached</p>',
			attachments: 'report',
			options: { inlineImages: 'logo', signature: 'none' },
		});
		expect(out.error).toBeUndefined();
		const mail = await bed.smtp.parsed(0);
		const file = mail.attachments.find((a) => a.filename === 'Q3 report.pdf');
		expect(file?.contentType).toBe('application/pdf');
		expect(file?.content.equals(pdf)).toBe(true);
		const logo = mail.attachments.find((a) => a.cid === 'logo');
		expect(logo?.contentType).toBe('image/png');
		expect(logo?.content.equals(png)).toBe(true);
		expect(logo?.contentDisposition).toBe('inline');
	});

	it('attaches every binary property with *', async () => {
		await runSend(storeFor(bed), [{ json: {}, binary: {
			a: { base64: b64('first'), fileName: 'a.txt', mimeType: 'text/plain' },
			b: { base64: b64('second'), fileName: 'b.csv', mimeType: 'text/csv' },
		} }], { attachments: '*' });
		const mail = await bed.smtp.parsed(0);
		expect(mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['a.txt', 'first'], ['b.csv', 'second']]);
	});

	it('sends one email per item over one connection and one login', async () => {
		const items = Array.from({ length: 5 }, (_, i) => ({ json: { to: `user${i}@example.test` } }));
		const out = await runSend(storeFor(bed), items, { to: '={{ $json.to }}', emailFormat: 'text', text: 'plain' });
		expect(out.items.map((i) => i.pairedItem)).toEqual(items.map((_, i) => [{ item: i }]));
		expect(bed.smtp.messages.map((m) => m.envelope.rcptTo[0]).sort()).toEqual(items.map((i) => i.json.to).sort());
		expect(bed.smtp.maxConcurrent).toBeLessThanOrEqual(3);
		expect(bed.smtp.authAttempts.length).toBe(bed.smtp.connections);
		expect(bed.idp.tokenRequests).toHaveLength(0);
		const mail = await bed.smtp.parsed(0);
		expect(mail.html).toBe(false);
		expect(mail.text?.trim()).toBe('plain');
	});

	it('sends as a shared mailbox when the server grants it', async () => {
		bed.smtp.allowSendAs(USER, 'shared@example.test');
		const out = await runSend(storeFor(bed), [{ json: {} }], { options: { from: 'Team Reports <shared@example.test>', replyTo: 'replies@example.test' } });
		expect(out.error).toBeUndefined();
		const mail = await bed.smtp.parsed(0);
		expect(mail.from?.value).toEqual([{ address: 'shared@example.test', name: 'Team Reports' }]);
		expect(mail.replyTo?.value[0].address).toBe('replies@example.test');
		expect(bed.smtp.messages[0].user).toBe(USER);
	});
});

describe('dry run', () => {
	it('returns the exact message as .eml and sends nothing', async () => {
		const out = await runSend(storeFor(bed, { signature: 'Sig' }), [{ json: {}, binary: { data: { base64: b64('x,y\n1,2\n'), fileName: 'd.csv', mimeType: 'text/csv' } } }], {
			attachments: 'data',
			options: { dryRun: true },
		});
		expect(out.error).toBeUndefined();
		expect(bed.smtp.connections).toBe(0);
		expect(bed.idp.tokenRequests).toHaveLength(0);
		const item = out.items[0];
		expect(item.json.dryRun).toBe(true);
		expect(item.binary?.email.mimeType).toBe('message/rfc822');
		expect(item.binary?.email.fileName).toBe('message.eml');
		const { simpleParser } = await import('mailparser');
		const mail = await simpleParser(Buffer.from(String(item.binary?.email.data), 'base64'));
		expect(mail.messageId).toBe(item.json.messageId);
		expect(mail.html).toContain('Sig');
		expect(mail.attachments[0].content.toString()).toBe('x,y\n1,2\n');
	});

	it('shows who gets what: from, to, cc, subject and each attachment with name, type and size', async () => {
		const out = await runSend(storeFor(bed), [{ json: {}, binary: { data: { base64: b64('x,y\n1,2\n'), fileName: 'd.csv', mimeType: 'text/csv' } } }], {
			to: 'Jane <jane@example.test>, bob@example.test',
			subject: 'Numbers',
			attachments: 'data',
			options: { dryRun: true, cc: 'carl@example.test' },
		});
		expect(out.items[0].json).toEqual({
			dryRun: true,
			messageId: expect.stringMatching(/^<.+@example\.test>$/),
			from: USER,
			to: ['Jane <jane@example.test>', 'bob@example.test'],
			cc: ['carl@example.test'],
			bcc: [],
			subject: 'Numbers',
			attachments: [{ name: 'd.csv', type: 'text/csv', size: 8 }],
			size: expect.any(Number),
		});
	});
});
