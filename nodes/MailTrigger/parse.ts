/**
 * Fetched message -> output item, without I/O: the header block is decoded with mailparser, the
 * body structure tells which parts are the text, the HTML and the attachments (the watcher
 * downloads those parts itself, attachments as streams).
 */
import type { IDataObject } from 'n8n-workflow';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';

/** The part of imapflow's body structure this file reads. */
export interface BodyPart {
	part?: string;
	type: string;
	parameters?: { [key: string]: unknown };
	size?: number;
	encoding?: string;
	disposition?: string;
	dispositionParameters?: { [key: string]: unknown };
	childNodes?: BodyPart[];
}

export interface AttachmentPart {
	part: string;
	fileName: string;
	mimeType: string;
	/** Decoded size estimate in bytes (base64 shrinks by a quarter). */
	size: number;
}

export interface MessageParts {
	text?: string;
	html?: string;
	attachments: AttachmentPart[];
}

function param(p: { [key: string]: unknown } | undefined, key: string): string | undefined {
	const v = p?.[key];
	return typeof v === 'string' && v ? v : undefined;
}

function decodedSize(node: BodyPart): number {
	const size = node.size ?? 0;
	return (node.encoding ?? '').toLowerCase() === 'base64' ? Math.floor((size * 3) / 4) : size;
}

/**
 * Walks the body structure: the first inline text/plain and text/html parts are the bodies;
 * anything with a file name or an attachment disposition is an attachment. A single-part message
 * has no part number: its body is part "1".
 */
export function partsOf(structure: BodyPart | undefined): MessageParts {
	const out: MessageParts = { attachments: [] };
	const walk = (node: BodyPart, inherited: string) => {
		const type = node.type.toLowerCase();
		const part = node.part ?? inherited;
		if (type.startsWith('multipart/')) {
			(node.childNodes ?? []).forEach((child, i) => walk(child, inherited === '' ? String(i + 1) : `${inherited}.${i + 1}`));
			return;
		}
		const fileName = param(node.dispositionParameters, 'filename') ?? param(node.parameters, 'name');
		const isAttachment = (node.disposition ?? '').toLowerCase() === 'attachment' || fileName !== undefined || type === 'message/rfc822';
		if (!isAttachment && type === 'text/plain' && out.text === undefined) out.text = part;
		else if (!isAttachment && type === 'text/html' && out.html === undefined) out.html = part;
		else if (isAttachment || !type.startsWith('text/'))
			out.attachments.push({ part, fileName: fileName ?? `attachment-${out.attachments.length + 1}`, mimeType: type, size: decodedSize(node) });
	};
	if (structure) walk(structure, structure.type.toLowerCase().startsWith('multipart/') ? '' : '1');
	return out;
}

export interface ParsedHeaders {
	messageId?: string;
	from?: IDataObject;
	to: IDataObject[];
	cc: IDataObject[];
	replyTo: IDataObject[];
	subject: string;
	date?: string;
	inReplyTo?: string;
	references: string[];
	headers: IDataObject;
}

function addresses(value: AddressObject | AddressObject[] | undefined): IDataObject[] {
	const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
	return list.flatMap((a) => a.value).flatMap((e) => (e.group ? e.group : [e])).map((e) => ({ name: e.name ?? '', address: e.address ?? '' }));
}

function headerMap(mail: ParsedMail): IDataObject {
	const out: IDataObject = {};
	for (const { key, line } of mail.headerLines) {
		const value = line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
		const existing = out[key];
		if (existing === undefined) out[key] = value;
		else out[key] = Array.isArray(existing) ? [...(existing as string[]), value] : [String(existing), value];
	}
	return out;
}

/** Decodes the raw header block (RFC 2047 words, folded lines, address lists). */
export async function parseHeaders(block: Buffer | undefined): Promise<ParsedHeaders> {
	const mail = await simpleParser(Buffer.concat([block ?? Buffer.alloc(0), Buffer.from('\r\n')]), { skipHtmlToText: true, skipTextToHtml: true });
	const references = mail.references === undefined ? [] : Array.isArray(mail.references) ? mail.references : mail.references.split(/\s+/).filter(Boolean);
	return {
		...(mail.messageId ? { messageId: mail.messageId } : {}),
		...(mail.from ? { from: addresses(mail.from)[0] } : {}),
		to: addresses(mail.to),
		cc: addresses(mail.cc),
		replyTo: addresses(mail.replyTo),
		subject: mail.subject ?? '',
		...(mail.date ? { date: mail.date.toISOString() } : {}),
		...(mail.inReplyTo ? { inReplyTo: mail.inReplyTo } : {}),
		references,
		headers: headerMap(mail),
	};
}

export interface MessageFacts {
	uid: number;
	folder: string;
	size?: number;
	internalDate?: Date;
	headers: ParsedHeaders;
	text?: string;
	html?: string;
	attachments: IDataObject[];
}

/** The output item's json, with the fields the README lists, in a stable order. */
export function itemJson(m: MessageFacts): IDataObject {
	const h = m.headers;
	return {
		messageId: h.messageId ?? '',
		from: h.from ?? { name: '', address: '' },
		to: h.to,
		cc: h.cc,
		replyTo: h.replyTo,
		subject: h.subject,
		date: h.date ?? m.internalDate?.toISOString() ?? '',
		inReplyTo: h.inReplyTo ?? '',
		references: h.references,
		text: m.text ?? '',
		html: m.html ?? '',
		headers: h.headers,
		size: m.size ?? 0,
		uid: m.uid,
		folder: m.folder,
		attachments: m.attachments,
	};
}
