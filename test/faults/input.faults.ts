/**
 * Bad input, one row each. Item 1 carries the bad value, item 2 a good one; Continue On Fail is on:
 * the bad item must be refused with an error naming the field and the fix (nothing sent for it),
 * or sent exactly as designed (IDN, non-ASCII, scripts kept verbatim), and item 2 must still go.
 */
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { IDataObject, INodeParameters } from 'n8n-workflow';
import type { ParsedMail } from 'mailparser';

import { b64 } from '../engine/SendReportEmail/fixture';
import { row, startBed, watched, type Bed } from './support/bed';
import { send, type Item } from './support/run';
import { startCanaryHttp } from './support/servers';

let bed: Bed;
let canary: Awaited<ReturnType<typeof startCanaryHttp>>;
const canaryFile = path.join(tmpdir(), `m365-faults-canary-${process.pid}.txt`);
const fileTouches: string[] = [];
const spies: jest.SpyInstance[] = [];

beforeAll(async () => {
	bed = await startBed();
	canary = await startCanaryHttp();
	fs.writeFileSync(canaryFile, 'CANARY-FILE-CONTENT');
	// Any attempt to open the canary file, by any code in this process, is recorded.
	for (const name of ['createReadStream', 'readFile', 'readFileSync', 'open', 'openSync'] as const) {
		const original = fs[name] as (...a: unknown[]) => unknown;
		spies.push(jest.spyOn(fs, name).mockImplementation(((...args: unknown[]) => {
			if (String(args[0]).includes('m365-faults-canary')) fileTouches.push(`${name}(${String(args[0])})`);
			return original.apply(fs, args);
		}) as never));
	}
});
afterAll(async () => {
	for (const s of spies) s.mockRestore();
	fs.rmSync(canaryFile, { force: true });
	await canary.stop();
	await bed.stop();
});
beforeEach(() => {
	bed.smtp.reset();
	bed.idp.reset();
});

/** `={{ $json.bad ? $json.<key> : <fallback> }}`: the bad item's value, else a good one. */
const bad = (key: string, fallback: unknown = '') => `={{ $json.bad ? $json.${key} : ${JSON.stringify(fallback)} }}`;
const file = (bytes: Buffer | string, fileName = 'a.txt', mimeType = 'text/plain') => ({ base64: b64(bytes), fileName, mimeType });

interface Case {
	tried: string;
	params: INodeParameters;
	json?: IDataObject;
	binary?: Item['binary'];
	/** Refused: the error must start with this field. */
	field?: RegExp;
	/** Sent: what the delivered mail must show. */
	sent?: (mail: ParsedMail, raw: string) => void;
}

const to = { to: bad('to', 'bob@example.test') };
const opt = (key: string) => ({ options: { [key]: bad(key) } });
const customHeader: INodeParameters = { options: { customHeaders: { header: [{ name: bad('hn', 'X-Ok'), value: bad('hv', '1') }] } } };
const many = (n: number) => Array.from({ length: n }, (_, i) => `r${i}@example.test`).join(', ');

const cases: Case[] = [
	// Addresses
	{ tried: 'To: "not-an-address"', params: to, json: { to: 'not-an-address' }, field: /^To:/ },
	{ tried: 'To: "bob@" (no domain)', params: to, json: { to: 'bob@' }, field: /^To:/ },
	{ tried: 'To: "@example.test" (no local part)', params: to, json: { to: '@example.test' }, field: /^To:/ },
	{ tried: 'To: "bob@@example.test"', params: to, json: { to: 'bob@@example.test' }, field: /^To:/ },
	{ tried: 'To: "bob@example" (no dot in domain)', params: to, json: { to: 'bob@example' }, field: /^To:/ },
	{ tried: 'To: "Bob <bob@example.test" (unclosed bracket)', params: to, json: { to: 'Bob <bob@example.test' }, field: /^To:/ },
	{ tried: 'To: empty', params: to, json: { to: '' }, field: /^To:/ },
	{ tried: 'To: only spaces', params: to, json: { to: '   ' }, field: /^To:/ },
	{ tried: 'To: only separators ", ;"', params: to, json: { to: ', ;' }, field: /^To:/ },
	{ tried: 'CC: invalid address', params: opt('cc'), json: { cc: 'carol at example.test' }, field: /^CC:/ },
	{ tried: 'BCC: invalid address', params: opt('bcc'), json: { bcc: 'dave@exa mple.test' }, field: /^BCC:/ },
	{ tried: 'From: invalid address', params: opt('from'), json: { from: 'alice' }, field: /^From:/ },
	{ tried: 'From: two addresses', params: opt('from'), json: { from: 'alice@example.test, eve@example.test' }, field: /^From:/ },
	{ tried: 'Reply-To: invalid address', params: opt('replyTo'), json: { replyTo: 'reply@' }, field: /^Reply-To:/ },
	{
		tried: 'To: duplicates differing in case (one RCPT each)', params: to, json: { to: 'bob@example.test, BOB@example.test, bob@example.test' },
		sent: (_m, raw) => expect(raw).toBeTruthy(),
	},
	// Header injection
	{ tried: 'Subject: CRLF + "Bcc: victim"', params: { subject: bad('s', 'ok') }, json: { s: 'Hi\r\nBcc: victim@example.test' }, field: /^Subject:/ },
	{ tried: 'Subject: bare LF + header', params: { subject: bad('s', 'ok') }, json: { s: 'Hi\nX-Evil: 1' }, field: /^Subject:/ },
	{ tried: 'Subject: bare CR', params: { subject: bad('s', 'ok') }, json: { s: 'Hi\rX-Evil: 1' }, field: /^Subject:/ },
	{ tried: 'Subject: NUL byte', params: { subject: bad('s', 'ok') }, json: { s: 'Hi\u0000there' }, field: /^Subject:/ },
	{ tried: 'To: display name with CRLF + Bcc', params: to, json: { to: '"Bob\r\nBcc: victim@example.test" <bob@example.test>' }, field: /^To:/ },
	{ tried: 'CC: display name with LF', params: opt('cc'), json: { cc: '"Carol\nX-Evil: 1" <carol@example.test>' }, field: /^CC:/ },
	{ tried: 'From: display name with CRLF', params: opt('from'), json: { from: '"Alice\r\nBcc: victim@example.test" <alice@example.test>' }, field: /^From:/ },
	{ tried: 'Reply-To: display name with CRLF', params: opt('replyTo'), json: { replyTo: '"R\r\nBcc: victim@example.test" <r@example.test>' }, field: /^Reply-To:/ },
	{ tried: 'Custom header value with CRLF + Bcc', params: customHeader, json: { hn: 'X-Report', hv: '1\r\nBcc: victim@example.test' }, field: /^Custom header "X-Report":/ },
	{ tried: 'Custom header name with a colon', params: customHeader, json: { hn: 'X-A: b', hv: '1' }, field: /^Custom header "X-A: b":/ },
	{ tried: 'Custom header name with a space', params: customHeader, json: { hn: 'X Report', hv: '1' }, field: /^Custom header "X Report":/ },
	{ tried: 'Custom header "Bcc" (reserved)', params: customHeader, json: { hn: 'Bcc', hv: 'victim@example.test' }, field: /^Custom header "Bcc":/ },
	{ tried: 'Custom header value over 998 characters', params: customHeader, json: { hn: 'X-Long', hv: 'x'.repeat(1200) }, field: /^Custom header "X-Long":/ },
	{ tried: 'Attachment file name with CRLF', params: { attachments: bad('att') }, json: { att: 'data' }, binary: { data: file('x', 'a\r\nBcc: victim@example.test.txt') }, field: /^File name of/ },
	{ tried: 'Attachment MIME type "not a type"', params: { attachments: bad('att') }, json: { att: 'data' }, binary: { data: file('x', 'a.txt', 'nonsense') }, field: /^Content type of/ },
	// Limits
	{ tried: '501 recipients over To and CC', params: { ...to, ...opt('cc') }, json: { to: many(300), cc: many(501) }, field: /^To\/CC\/BCC:/ },
	{
		tried: 'Subject of 5,000 characters (folded, intact)', params: { subject: bad('s', 'ok') }, json: { s: 'Long '.repeat(1000).trim() },
		sent: (m) => expect(m.subject).toBe('Long '.repeat(1000).trim()),
	},
	// Non-ASCII
	{
		tried: 'IDN domain user@bücher.example', params: to, json: { to: 'user@bücher.example' },
		sent: (_m, raw) => expect(raw).toMatch(/user@xn--bcher-kva\.example/),
	},
	{
		tried: 'Non-ASCII display name "Jürgen Müller"', params: to, json: { to: 'Jürgen Müller <jm@example.test>' },
		sent: (m) => expect(JSON.stringify(m.to)).toContain('Jürgen Müller'),
	},
	{
		tried: 'Non-ASCII subject (CJK + emoji)', params: { subject: bad('s', 'ok') }, json: { s: '月次レポート 📊 Größe' },
		sent: (m) => expect(m.subject).toBe('月次レポート 📊 Größe'),
	},
	// Binary data
	{ tried: 'Attachment: binary property missing', params: { attachments: bad('att') }, json: { att: 'report' }, binary: { other: file('x') }, field: /^Attachments:/ },
	{ tried: 'Attachment: item has no binary at all', params: { attachments: bad('att') }, json: { att: 'data' }, field: /^Attachments:/ },
	{ tried: 'Attachment: empty (0-byte) binary property', params: { attachments: bad('att') }, json: { att: 'data' }, binary: { data: file('') }, field: /^Attachments:/ },
	{ tried: 'Attachment over Max Message Size (800 KB vs 1 MB)', params: { attachments: bad('att'), options: { maxMessageSizeMb: 1 } }, json: { att: 'data' }, binary: { data: file(Buffer.alloc(800 * 1024, 1), 'big.bin', 'application/octet-stream') }, field: /^Attachments:/ },
	{ tried: 'Attachment: a local file path (canary)', params: { attachments: bad('att') }, json: { att: canaryFile }, field: /^Attachments:/ },
	{ tried: 'Attachment: a URL (canary HTTP server)', params: { attachments: bad('att') }, json: { att: 'http://127.0.0.1:1/canary' }, field: /^Attachments:/ },
	{ tried: 'Inline Images: a file path (canary)', params: { options: { inlineImages: bad('img') } }, json: { img: canaryFile }, field: /^Inline Images:/ },
	{
		tried: 'HTML <img src> to file:// and http:// canaries (kept, never fetched)', params: { html: bad('h', '<p>ok</p>') }, json: { h: '' },
		sent: (m) => expect(String(m.html)).toContain('m365-faults-canary'),
	},
	{
		tried: 'HTML with <script> and onerror= (sent verbatim, never run)', params: { html: bad('h', '<p>ok</p>') }, json: { h: '<p>x</p><script>globalThis.__pwned = 1</script><img src=x onerror="globalThis.__pwned=2">' },
		sent: (m) => {
			expect(String(m.html)).toContain('<script>globalThis.__pwned = 1</script>');
			expect((globalThis as { __pwned?: number }).__pwned).toBeUndefined();
		},
	},
	// Expressions resolving to the wrong type
	{ tried: 'To: expression resolves to an object', params: to, json: { to: { address: 'bob@example.test' } }, field: /^To:/ },
	{ tried: 'To: expression resolves to null', params: to, json: { to: null }, field: /^To:/ },
	{ tried: 'To: expression resolves to an array of objects', params: to, json: { to: [{ a: 1 }] }, field: /^To:/ },
	{ tried: 'Subject: expression resolves to an object', params: { subject: bad('s', 'ok') }, json: { s: { title: 'x' } }, field: /^Subject:/ },
	{ tried: 'CC: expression resolves to an object', params: opt('cc'), json: { cc: { a: 1 } }, field: /^CC:/ },
	{ tried: 'HTML: expression resolves to an object', params: { html: bad('h', '<p>ok</p>') }, json: { h: { body: '<p>x</p>' } }, field: /^HTML:/ },
	{
		tried: 'To: expression resolves to an array of addresses (joined)', params: to, json: { to: ['bob@example.test', 'carol@example.test'] },
		sent: (_m, raw) => expect(raw).toMatch(/carol@example\.test/),
	},
];

describe('bad input', () => {
	it.each(cases)('$tried', async (c) => {
		const refused = c.field !== undefined;
		if (c.tried.startsWith('HTML <img')) c.json = { h: `<img src="file://${canaryFile}"><img src="${canary.url('m365-faults-canary.png')}">` };
		const hitsBefore = canary.hits;
		const touchesBefore = fileTouches.length;
		await row(bed, { area: 'Input', kind: 'input', tried: c.tried, expected: refused ? 1 : 2, refused }, async () => {
			const items: Item[] = [{ json: { bad: true, ...c.json }, binary: c.binary }, { json: { bad: false } }];
			const out = await send(watched(bed), items, c.params, { continueOnFail: true });
			expect(out.error).toBeUndefined();
			const [first, second] = out.items;
			expect(second.json.messageId).toEqual(expect.any(String));
			expect(canary.hits).toBe(hitsBefore);
			expect(fileTouches.slice(touchesBefore)).toEqual([]);
			if (refused) {
				expect(first.json).toMatchObject({ code: expect.stringMatching(/^INVALID_INPUT$/), error: expect.stringMatching(c.field as RegExp), hint: expect.any(String) });
				expect(String(first.json.hint).length).toBeGreaterThan(15);
				expect(bed.smtp.messages).toHaveLength(1);
				for (const m of bed.smtp.messages) expect(m.raw.toString()).not.toMatch(/victim@example\.test|X-Evil/);
				return `refused: ${String(first.json.error).slice(0, 66)}`;
			}
			expect(first.json.messageId).toEqual(expect.any(String));
			const raw = bed.smtp.messages.find((m) => m.raw.toString().includes(String(first.json.messageId)));
			expect(raw).toBeDefined();
			if (raw && c.sent) {
				const parsed = await bed.smtp.parsed(bed.smtp.messages.indexOf(raw));
				c.sent(parsed, raw.raw.toString());
			}
			return `sent as designed (${String((first.json.accepted as string[]).length)} recipient(s))`;
		});
	});
});
