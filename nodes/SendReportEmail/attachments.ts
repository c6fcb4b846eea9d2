/**
 * Binary data of input items -> attachments. Files kept in n8n's binary data store (filesystem,
 * S3, database) are streamed, never loaded whole; in-memory binaries are decoded once.
 */
import type { IBinaryData, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { BINARY_ENCODING } from 'n8n-workflow';

import { MailError, inputFailure } from '../shared/errors';
import type { AttachmentInput } from './message';

export interface AttachmentRequest {
	/** Binary property names; `*` stands for all of the item's properties. */
	names: string[];
	/** Embed as inline images (`cid:<property name>`). */
	inline?: boolean;
}

export function parseNameList(value: unknown): string[] {
	return typeof value === 'string'
		? value.split(',').map((s) => s.trim()).filter(Boolean)
		: [];
}

function selectedNames(item: INodeExecutionData, names: string[]): string[] {
	if (names.includes('*')) return Object.keys(item.binary ?? {});
	return names;
}

async function toAttachment(
	ctx: IExecuteFunctions,
	binary: IBinaryData,
	origin: string,
	name: string,
	inline: boolean,
): Promise<AttachmentInput> {
	const fileName = binary.fileName || (binary.fileExtension ? `${name}.${binary.fileExtension}` : name);
	const contentType = binary.mimeType || 'application/octet-stream';
	if (binary.id) {
		const { fileSize } = await ctx.helpers.getBinaryMetadata(binary.id);
		const content = await ctx.helpers.getBinaryStream(binary.id);
		return { origin, fileName, contentType, size: fileSize, content, cid: inline ? name : undefined };
	}
	const content = Buffer.from(binary.data, BINARY_ENCODING);
	return { origin, fileName, contentType, size: content.length, content, cid: inline ? name : undefined };
}

/** The attachments of the given items; a missing property is an input error naming it. */
export async function loadAttachments(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
	itemIndexes: number[],
	request: AttachmentRequest,
): Promise<AttachmentInput[]> {
	const out: AttachmentInput[] = [];
	const field = request.inline ? 'Inline Images' : 'Attachments';
	for (const index of itemIndexes) {
		const item = items[index];
		for (const name of selectedNames(item, request.names)) {
			const binary = item.binary?.[name];
			if (!binary) {
				const available = Object.keys(item.binary ?? {});
				throw new MailError(
					inputFailure(
						field,
						`item ${index + 1} has no binary property "${name}".`,
						available.length
							? `Use one of its binary properties: ${available.join(', ')} (or * for all).`
							: 'This item carries no files; add a node that reads or downloads the file before this one, or clear the field.',
					),
				);
			}
			out.push(await toAttachment(ctx, binary, `binary property "${name}" of item ${index + 1}`, name, request.inline === true));
		}
	}
	return out;
}
