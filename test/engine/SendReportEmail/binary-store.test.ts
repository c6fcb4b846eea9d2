/**
 * Attachments kept in n8n's filesystem binary data store (what a self-hosted n8n 2.x uses): the node
 * reads small files whole and streams the others from the store (within a per-message budget), and
 * either way they arrive byte for byte; the size limit holds whether n8n
 * recorded the file's size on the binary (`bytes`, n8n 2.x) or the node has to read it from the
 * store's metadata (binaries stored by older versions).
 */
import { randomBytes } from 'node:crypto';

import type { INodeParameters } from 'n8n-workflow';

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
