/**
 * Binary data of input items -> attachments. Files kept in n8n's binary data store (filesystem,
 * S3, database) are streamed, never loaded whole, except small ones: files up to 1 MB, 4 MB in
 * all per field (Attachments, Inline Images) of one message, are read in one go, which costs much
 * less per file than opening a stream. In-memory binaries are decoded once.
 */
import type { IBinaryData, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { BINARY_ENCODING } from 'n8n-workflow';
import { Transform, type Readable } from 'node:stream';

import { MailError, inputFailure } from '../shared/errors';
import type { AttachmentInput } from './message';

/** Files up to this size are read whole instead of streamed... */
const SMALL_FILE_BYTES = 1024 * 1024;
/** ...while the files read whole for one field of one message stay within this. */
const FIELD_BUFFER_BYTES = 4 * 1024 * 1024;

export interface AttachmentRequest {
	/** Binary property names; `*` stands for all of the item's properties. */
	names: string[];
	/** Embed as inline images (`cid:<property name>`). */
	inline?: boolean;
}

function missing(field: string, item: INodeExecutionData, index: number, name: string): MailError {
	const available = Object.keys(item.binary ?? {});
	return new MailError(
		inputFailure(
			field,
			`item ${index + 1} has no binary property "${name}".`,
			available.length
				? `Use one of its binary properties: ${available.join(', ')} (or * for all).`
				: 'This item carries no files; add a node that reads or downloads the file before this one, or clear the field.',
		),
	);
}

export function parseNameList(value: unknown): string[] {
	return typeof value === 'string'
		? value.split(',').map((s) => s.trim()).filter(Boolean)
		: [];
}

async function toAttachment(
	ctx: IExecuteFunctions,
	binary: IBinaryData,
	at: { origin: string; name: string; index: number; inline: boolean; budget: { bytes: number } },
): Promise<AttachmentInput> {
	const { origin, name, inline } = at;
	const fileName = binary.fileName || (binary.fileExtension ? `${name}.${binary.fileExtension}` : name);
	const contentType = binary.mimeType || 'application/octet-stream';
	if (binary.id) {
		// n8n 2.x records the size in `bytes` when it stores the file; older entries need a metadata read.
		const fileSize = typeof binary.bytes === 'number' && binary.bytes >= 0 ? binary.bytes : (await ctx.helpers.getBinaryMetadata(binary.id)).fileSize;
		if (fileSize <= SMALL_FILE_BYTES && fileSize <= at.budget.bytes) {
			at.budget.bytes -= fileSize;
			const content = await ctx.helpers.getBinaryDataBuffer(at.index, name);
			return { origin, fileName, contentType, size: content.length, content, cid: inline ? name : undefined };
		}
		const content = limitStream(await ctx.helpers.getBinaryStream(binary.id), fileSize, `${origin} (${fileName})`);
		return { origin, fileName, contentType, size: fileSize, content, cid: inline ? name : undefined };
	}
	const content = Buffer.from(binary.data, BINARY_ENCODING);
	return { origin, fileName, contentType, size: content.length, content, cid: inline ? name : undefined };
}

/**
 * The size check trusts the size recorded on a stored binary; this makes it true: a file that
 * turns out longer fails the send while its data is still going out (before the final dot, so the
 * server keeps nothing), instead of sending more than was checked.
 */
function limitStream(source: Readable, declared: number, what: string): Readable {
	let seen = 0;
	const guard = new Transform({
		transform(chunk: Buffer, _encoding, done) {
			seen += chunk.length;
			if (seen > declared)
				return done(new MailError(inputFailure('Attachments', `${what} holds more than the ${declared} bytes n8n recorded for it.`, 'The stored file changed after it was recorded; run the node that produced it again.')));
			done(null, chunk);
		},
	});
	source.on('error', (e) => guard.destroy(e));
	guard.on('close', () => source.destroy());
	return source.pipe(guard);
}

/** Closes the streams of attachments nothing will read (their files stay open otherwise). */
export function releaseAttachments(attachments: AttachmentInput[]): void {
	for (const a of attachments) if (!Buffer.isBuffer(a.content) && !a.content.destroyed) a.content.destroy();
}

/**
 * The attachments of the given items. For one item a missing property is an input error naming
 * it; across several items (a report) items without it are skipped, unless none has it.
 */
export async function loadAttachments(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
	itemIndexes: number[],
	request: AttachmentRequest,
): Promise<AttachmentInput[]> {
	const out: AttachmentInput[] = [];
	const collected = await settle(async () => await collect(ctx, items, itemIndexes, request, out));
	if (!collected.ok) {
		// A later file was missing or empty: close the ones already opened.
		releaseAttachments(out);
		throw collected.error;
	}
	return out;
}

/** Runs `work`, handing back its result or what it threw. */
export async function settle<T>(work: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
	try {
		return { ok: true, value: await work() };
	} catch (error) {
		return { ok: false, error };
	}
}

async function collect(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
	itemIndexes: number[],
	request: AttachmentRequest,
	out: AttachmentInput[],
): Promise<void> {
	const field = request.inline ? 'Inline Images' : 'Attachments';
	const several = itemIndexes.length > 1;
	const budget = { bytes: FIELD_BUFFER_BYTES };
	for (const name of request.names) {
		let found = false;
		for (const index of itemIndexes) {
			const item = items[index];
			for (const key of name === '*' ? Object.keys(item.binary ?? {}) : [name]) {
				const binary = item.binary?.[key];
				if (!binary) {
					if (!several) throw missing(field, item, index, key);
					continue;
				}
				found = true;
				const attachment = await toAttachment(ctx, binary, { origin: `binary property "${key}" of item ${index + 1}`, name: key, index, inline: request.inline === true, budget });
				out.push(attachment);
				// An empty file is almost always a failed download or export upstream, not a report.
				if (attachment.size === 0) {
					throw new MailError(inputFailure(field, `${attachment.origin} (${attachment.fileName}) is empty (0 bytes).`, 'Check the node that produced the file (a failed download or export often gives an empty file), or remove the property from the field.'));
				}
			}
		}
		if (several && !found && name !== '*') throw missing(field, items[itemIndexes[0]], itemIndexes[0], name);
	}
}
