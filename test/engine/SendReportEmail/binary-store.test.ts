/**
 * Attachments kept in n8n's filesystem binary data store (what a self-hosted n8n 2.x uses): the node
 * reads small files whole and streams the others from the store (within a per-message budget), and
 * either way they arrive byte for byte; the size limit holds whether n8n
 * recorded the file's size on the binary (`bytes`, n8n 2.x) or the node has to read it from the
 * store's metadata (binaries stored by older versions).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';

import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { runWorkflow, useFilesystemBinaryData } from '../../support/engine';
import { N8N_RECORDS_BINARY_SIZE } from '../../support/n8n-version';
import { b64, NODE, sendWorkflow, startBed, storeFor, type Bed } from './fixture';

let bed: Bed;
beforeAll(async () => {
	await useFilesystemBinaryData();
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => bed.smtp.reset());

const file = randomBytes(300 * 1024);

async function send(dropBytes: boolean, options: INodeParameters = {}) {
	const { nodes, connections } = sendWorkflow(
		[{ json: {}, binary: { data: { base64: b64(file), fileName: 'export.bin', mimeType: 'application/octet-stream', dropBytes } } }],
		{ attachments: 'data', options },
		{ continueOnFail: true },
	);
	const result = await runWorkflow({ nodes, connections, store: storeFor(bed) });
	return { stored: result.output('Items')[0].binary?.data, sent: result.output(NODE) };
}

describe.each([
	['with the size n8n recorded (bytes)', false],
	['without it (read from the store metadata)', true],
])('an attachment in the filesystem binary data store, %s', (_title, dropBytes) => {
	it('is sent byte for byte', async () => {
		const { stored, sent } = await send(dropBytes);
		// The item carries a reference into the store, not the file itself.
		expect(stored).toMatchObject({ id: expect.stringMatching(/^filesystem/), fileName: 'export.bin' });
		// (n8n before 2.6 records no size: then both cases read it from the store's metadata.)
		expect(stored?.bytes).toBe(dropBytes || !N8N_RECORDS_BINARY_SIZE ? undefined : file.length);
		expect(sent[0].json).toMatchObject({ accepted: ['bob@example.test'] });
		const mail = await bed.smtp.parsed(0);
		expect(mail.attachments).toHaveLength(1);
		expect(mail.attachments[0].filename).toBe('export.bin');
		expect(mail.attachments[0].content.equals(file)).toBe(true);
	});

	it('is refused before anything is sent when it makes the message too big', async () => {
		const { sent } = await send(dropBytes, { maxMessageSizeMb: 0.2 });
		expect(sent[0].json).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringMatching(/Attachments|size/i), hint: expect.stringMatching(/Max Message Size/) });
		expect(bed.smtp.messages).toHaveLength(0);
	});
});

describe('files read whole and files streamed, in one message', () => {
	it('a report with one big file and more small files than the read-whole budget: all arrive byte for byte', async () => {
		const big = randomBytes(1536 * 1024); // over the 1 MB read-whole limit: streamed
		const small = Array.from({ length: 6 }, () => randomBytes(900 * 1024)); // 5.4 MB: over the 4 MB budget
		const items = [big, ...small].map((content, i) => ({ json: { n: i }, binary: { data: { base64: b64(content), fileName: `f${i}.bin`, mimeType: 'application/octet-stream' } } }));
		const { nodes, connections } = sendWorkflow(items, { mode: 'report', attachments: 'data', reportOutput: 'table', options: { maxMessageSizeMb: 20 } });
		const result = await runWorkflow({ nodes, connections, store: storeFor(bed) });
		expect(result.error(NODE)).toBeUndefined();
		const mail = await bed.smtp.parsed(0);
		expect(mail.attachments.map((a) => a.filename)).toEqual(['f0.bin', 'f1.bin', 'f2.bin', 'f3.bin', 'f4.bin', 'f5.bin', 'f6.bin']);
		[big, ...small].forEach((content, i) => expect(mail.attachments[i].content.equals(content)).toBe(true));
	});
});

/** Files of n8n's binary data store this process holds open (what a leak leaves behind until a GC). */
function openStoreFiles(): number {
	// Files other cases closed a moment ago may still show: only what this case leaves open counts.
	const folder = String(process.env.N8N_USER_FOLDER);
	let count = 0;
	for (const fd of readdirSync('/proc/self/fd')) {
		try {
			if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(folder)) count++;
		} catch {
			// closed while we looked
		}
	}
	return count;
}

async function settledOpenStoreFiles(baseline: number): Promise<number> {
	const until = Date.now() + 3000;
	let open = openStoreFiles();
	while (open > baseline && Date.now() < until) {
		await new Promise((r) => setTimeout(r, 50));
		open = openStoreFiles();
	}
	return open;
}

describe('streamed attachments are closed on every failure path', () => {
	const big = randomBytes(1536 * 1024); // over 1 MB: streamed from the store
	const bigItem = (extra: Record<string, { base64: string; fileName: string; mimeType: string; bytes?: number }> = {}) => ({
		json: {},
		binary: { data: { base64: b64(big), fileName: 'big.bin', mimeType: 'application/octet-stream' }, ...extra },
	});

	const cases: Array<[string, ReturnType<typeof bigItem>, INodeParameters, IDataObject, RegExp]> = [
		['a later attachment is missing', bigItem({ other: { base64: b64(big), fileName: 'other.bin', mimeType: 'application/octet-stream' } }), { attachments: 'data, other, nope' }, {}, /Attachments: item \d has no binary property "nope"/],
		['an inline image is missing', bigItem(), { attachments: 'data', options: { inlineImages: 'logo' } }, {}, /Inline Images: item \d has no binary property "logo"/],
		['a later attachment has no valid MIME type', bigItem({ bad: { base64: b64('x'), fileName: 'x.txt', mimeType: 'not a type' } }), { attachments: 'data, bad' }, {}, /Content type of binary property "bad"/],
		['the SMTP server cannot be reached (nothing read the files)', bigItem(), { attachments: 'data', options: { retries: 1 } }, { smtpPort: 9 }, /refused|reach/i],
	];
	it.each(cases)('%s', async (_title, item, parameters, credential, error) => {
		const baseline = openStoreFiles();
		const { nodes, connections } = sendWorkflow([item, item], parameters, { continueOnFail: true });
		const result = await runWorkflow({ nodes, connections, store: storeFor(bed, credential) });
		const out = result.output(NODE);
		expect(out).toHaveLength(2);
		for (const o of out) expect(String(o.json.error)).toMatch(error);
		expect(bed.smtp.messages).toHaveLength(0);
		expect(await settledOpenStoreFiles(baseline)).toBeLessThanOrEqual(baseline);
	});

	it('a stored file longer than n8n recorded is refused while its data goes out; the server keeps nothing', async () => {
		const baseline = openStoreFiles();
		const item = { json: {}, binary: { data: { base64: b64(big), fileName: 'big.bin', mimeType: 'application/octet-stream', bytes: 1100 * 1024 } } };
		const { nodes, connections } = sendWorkflow([item], { attachments: 'data', options: { maxMessageSizeMb: 1.7 } }, { continueOnFail: true });
		const result = await runWorkflow({ nodes, connections, store: storeFor(bed) });
		const out = result.output(NODE);
		expect(out[0].json).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringMatching(/big\.bin\) holds more than the 1126400 bytes/) });
		await new Promise((r) => setTimeout(r, 300));
		expect(bed.smtp.messages).toHaveLength(0);
		expect(await settledOpenStoreFiles(baseline)).toBeLessThanOrEqual(baseline);
	});
});
