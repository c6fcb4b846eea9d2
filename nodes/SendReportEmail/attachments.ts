/**
 * Binary data of input items -> attachments. Files kept in n8n's binary data store (filesystem,
 * S3, database) are streamed, never loaded whole, except small ones: files up to 1 MB, 4 MB in
 * all per field (Attachments, Inline Images) of one message, are read in one go, which costs much
 * less per file than opening a stream. In-memory binaries are decoded once.
 */
import type { IBinaryData, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { BINARY_ENCODING } from 'n8n-workflow';

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
		const content = await ctx.helpers.getBinaryStream(binary.id);
		return { origin, fileName, contentType, size: fileSize, content, cid: inline ? name : undefined };
	}
	const content = Buffer.from(binary.data, BINARY_ENCODING);
	return { origin, fileName, contentType, size: content.length, content, cid: inline ? name : undefined };
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
				// An empty file is almost always a failed download or export upstream, not a report.
				if (attachment.size === 0) {
					if (!Buffer.isBuffer(attachment.content)) attachment.content.destroy();
					throw new MailError(inputFailure(field, `${attachment.origin} (${attachment.fileName}) is empty (0 bytes).`, 'Check the node that produced the file (a failed download or export often gives an empty file), or remove the property from the field.'));
				}
				out.push(attachment);
			}
		}
		if (several && !found && name !== '*') throw missing(field, items[itemIndexes[0]], itemIndexes[0], name);
	}
	return out;
}
