/**
 * Pure: the node's parameters -> nodemailer mail options. Every refusal names the field and the
 * fix, and happens before anything is sent. No I/O: attachment contents arrive ready to use
 * (a Buffer, or a stream from n8n's binary data store).
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { domainToASCII } from 'node:url';

import { EXCHANGE_LIMITS } from '../shared/constants';
import { MailError, inputFailure } from '../shared/errors';
import type { MailOptions } from '../shared/smtp';

export type BodyFormat = 'html' | 'text' | 'both';
export type Importance = 'normal' | 'high' | 'low';

export interface Address {
	name: string;
	address: string;
}

export interface AttachmentInput {
	/** Where it came from, for error messages, e.g. `binary property "data" of item 2`. */
	origin: string;
	fileName: string;
	contentType: string;
	/** Exact size in bytes before encoding. */
	size: number;
	content: Buffer | Readable;
	/** Set for inline images: referenced from the HTML as `cid:<cid>`. */
	cid?: string;
}

export interface MessageInput {
	/** The credential's mailbox: the default From. */
	mailbox: string;
	from?: string;
	to: string;
	cc?: string;
	bcc?: string;
	/** Empty: the credential's default Reply-To (if any). */
	replyTo?: string;
	defaultReplyTo?: string;
	subject: string;
	format: BodyFormat;
	html?: string;
	text?: string;
	/** HTML signature to append; empty for none. */
	signature?: string;
	importance?: Importance;
	headers?: Array<{ name: string; value: string }>;
	attachments?: AttachmentInput[];
	maxMessageBytes?: number;
	messageId?: string;
	date?: Date;
}

/** Headers the node writes itself; a custom header may not replace them. */
const RESERVED_HEADERS = new Set(
	['from', 'to', 'cc', 'bcc', 'reply-to', 'sender', 'subject', 'date', 'message-id', 'mime-version',
		'content-type', 'content-transfer-encoding', 'content-disposition', 'return-path', 'received',
		'importance', 'x-priority', 'x-msmail-priority', 'dkim-signature', 'in-reply-to', 'references'],
);

const HEADER_NAME = /^[!-9;-~]+$/;
const LINE_BREAK = /[\r\n\0]/;
const MAX_HEADER_LINE = 998;

function refuse(field: string, message: string, hint: string): never {
	throw new MailError(inputFailure(field, message, hint));
}

function noLineBreaks(field: string, value: string): void {
	if (LINE_BREAK.test(value))
		refuse(field, 'contains a line break, which could inject extra mail headers.', `Remove line breaks from ${field} (check the expression that fills it).`);
}

/** Splits `a@x, "Last, First" <b@y>; c@z` on commas, semicolons and newlines outside quotes and angle brackets. */
export function splitAddressList(value: string): string[] {
	return scanAddressList(value).parts;
}

/**
 * One pass over an address list (linear in its length): the entries, and whether a line break
 * sits inside a quoted display name (an injection attempt, not a list separator).
 */
function scanAddressList(value: string): { parts: string[]; breakInName: boolean } {
	const parts: string[] = [];
	let start = 0;
	let quoted = false;
	let angle = false;
	let breakInName = false;
	for (let i = 0; i < value.length; i++) {
		const ch = value[i];
		if (ch === '"' && !angle) quoted = !quoted;
		else if (ch === '<' && !quoted) angle = true;
		else if (ch === '>' && !quoted) angle = false;
		if (quoted && (ch === '\r' || ch === '\n')) breakInName = true;
		if (!quoted && !angle && (ch === ',' || ch === ';' || ch === '\n' || ch === '\r')) {
			parts.push(value.slice(start, i));
			start = i + 1;
		}
	}
	parts.push(value.slice(start));
	return { parts: parts.map((p) => p.trim()).filter(Boolean), breakInName };
}

/** RFC 5321: a path holds at most 254 characters of address, 64 of them the local part. */
export const MAX_ADDRESS_LENGTH = 254;
export const MAX_LOCAL_PART_LENGTH = 64;

const LOCAL_PART = /^[^\s@<>()",;:\\[\]]+$/u;

/** `user@bücher.example` -> `user@xn--bcher-kva.example`; undefined when not an address. */
export function normalizeAddress(address: string): string | undefined {
	if (address.length > MAX_ADDRESS_LENGTH) return undefined;
	const at = address.lastIndexOf('@');
	if (at < 1 || at > MAX_LOCAL_PART_LENGTH) return undefined;
	const local = address.slice(0, at);
	const domain = domainToASCII(address.slice(at + 1));
	if (!LOCAL_PART.test(local) || !domain || !domain.includes('.') || domain.startsWith('.') || domain.endsWith('.')) return undefined;
	return `${local}@${domain}`;
}

/** `"Last, First"` -> `Last, First`; backslash escapes undone. */
function unquoteName(raw: string): string {
	const inner = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
	return inner.replace(/\\(.)/gs, '$1').trim();
}

/** One entry: `a@x`, `<a@x>`, `Name <a@x>` or `"Last, First" <a@x>`. Parsed by position, not by a backtracking pattern. */
export function parseAddress(entry: string, field: string): Address {
	const shown = entry.length > 80 ? `${entry.slice(0, 77)}...` : entry;
	// A display name and an address fit on one header line (RFC 5322: 998 characters).
	if (entry.length > MAX_HEADER_LINE)
		refuse(field, `an entry of ${entry.length} characters is longer than a mail header line allows (998).`, 'Write addresses as name@domain.com or Name <name@domain.com>, separated by commas; check the expression that fills the field.');
	const open = entry.endsWith('>') ? entry.lastIndexOf('<') : -1;
	const bracketed = open >= 0 ? entry.slice(open + 1, -1) : undefined;
	const angle = bracketed !== undefined && bracketed !== '' && !bracketed.includes('>');
	const rawName = angle ? entry.slice(0, open).trim() : '';
	const rawAddress = (angle ? bracketed : entry).trim();
	const name = unquoteName(rawName);
	const address = normalizeAddress(rawAddress);
	if (!address)
		refuse(field, `"${shown}" is not an email address.`, `Write addresses as name@domain.com or Name <name@domain.com>, separated by commas (an address has at most ${MAX_ADDRESS_LENGTH} characters).`);
	return { name, address };
}

export function parseAddressList(value: string | undefined, field: string): Address[] {
	if (!value) return [];
	const { parts, breakInName } = scanAddressList(value);
	// Newlines separate list entries; a line break inside a quoted name is an injection attempt.
	if (breakInName || value.includes('\0'))
		refuse(field, 'contains a line break inside a display name, which could inject extra mail headers.', `Remove line breaks from ${field}.`);
	return parts.map((entry) => parseAddress(entry, field));
}

const ENTITIES: Record<string, string> = { nbsp: ' ', lt: '<', gt: '>', quot: '"', amp: '&' };

/** What a tag becomes in plain text: line breaks for blocks, tabs between cells, nothing otherwise. */
function tagText(tag: string): string {
	const closing = tag.startsWith('/');
	const name = /^[a-z0-9]*/i.exec(closing ? tag.slice(1) : tag)?.[0].toLowerCase() ?? '';
	if (!closing) return name === 'br' ? '\n' : '';
	if (name === 'td' || name === 'th') return '\t';
	return /^(p|div|tr|h[1-6]|li|table)$/.test(name) ? '\n' : '';
}

/**
 * Readable plain text from simple HTML (signatures, bodies when only HTML is given). One pass over
 * the input, so its time stays linear whatever the HTML holds (no backtracking pattern over a body).
 */
export function htmlToText(html: string): string {
	let out = '';
	let i = 0;
	// Where the next `>` and the next `</script>` / `</style>` are: each search runs forward only once.
	let nextGt = -2;
	const nextClose: Record<string, number> = { script: -2, style: -2 };
	const closers: Record<string, RegExp> = { script: /<\/script>/gi, style: /<\/style>/gi };
	const findGt = (from: number) => {
		if (nextGt !== -1 && nextGt < from) nextGt = html.indexOf('>', from);
		return nextGt;
	};
	const findClose = (name: string, from: number) => {
		if (nextClose[name] !== -1 && nextClose[name] < from) {
			closers[name].lastIndex = from;
			nextClose[name] = closers[name].exec(html)?.index ?? -1;
		}
		return nextClose[name];
	};
	while (i < html.length) {
		const lt = html.indexOf('<', i);
		if (lt < 0) {
			out += html.slice(i);
			break;
		}
		out += html.slice(i, lt);
		const gt = findGt(lt + 1);
		if (gt < 0 || gt === lt + 1) {
			// No tag here (`<` without `>`, or `<>`): keep the text as it is.
			out += html.slice(lt, gt < 0 ? html.length : gt + 1);
			i = gt < 0 ? html.length : gt + 1;
			continue;
		}
		const tag = html.slice(lt + 1, gt);
		const raw = /^(script|style)\b/i.exec(tag)?.[1].toLowerCase();
		const close = raw ? findClose(raw, gt + 1) : -1;
		if (raw && close >= 0) {
			i = close + raw.length + 3;
			continue;
		}
		out += tagText(tag);
		i = gt + 1;
	}
	const decoded = out.replace(/&(nbsp|lt|gt|quot|amp|#\d{1,7});/g, (_m, e: string) =>
		e.startsWith('#') ? String.fromCharCode(Number(e.slice(1))) : ENTITIES[e],
	);
	const lines: string[] = [];
	let blank = 0;
	for (const line of decoded.split('\n')) {
		let end = line.length;
		while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
		const kept = line.slice(0, end);
		blank = kept === '' ? blank + 1 : 0;
		if (blank < 2) lines.push(kept);
	}
	return lines.join('\n').trim();
}

export function appendHtmlSignature(html: string, signature: string): string {
	const block = `<div class="m365-signature"><br>-- <br>${signature}</div>`;
	const close = html.search(/<\/body>/i);
	return close >= 0 ? `${html.slice(0, close)}${block}${html.slice(close)}` : `${html}${block}`;
}

export function appendTextSignature(text: string, signatureHtml: string): string {
	return `${text}\n\n-- \n${htmlToText(signatureHtml)}`;
}

export function bodies(input: Pick<MessageInput, 'format' | 'html' | 'text' | 'signature'>): { html?: string; text?: string } {
	const signature = input.signature?.trim() ?? '';
	let html: string | undefined;
	let text: string | undefined;
	if (input.format === 'html' || input.format === 'both') html = input.html ?? '';
	if (input.format === 'text') text = input.text ?? '';
	if (input.format === 'both') text = input.text?.trim() ? input.text : htmlToText(html ?? '');
	if (signature) {
		if (html !== undefined) html = appendHtmlSignature(html, signature);
		if (text !== undefined) text = appendTextSignature(text, signature);
	}
	return { html, text };
}

export function validateHeaders(headers: Array<{ name: string; value: string }>): Array<{ key: string; value: string }> {
	return headers
		.filter((h) => h.name.trim() !== '')
		.map(({ name, value }) => {
			const key = name.trim();
			const field = `Custom header "${key}"`;
			if (!HEADER_NAME.test(key))
				refuse(field, 'is not a valid header name.', 'Header names use letters, digits and dashes only (e.g. X-Report-Id), without a colon or spaces.');
			if (RESERVED_HEADERS.has(key.toLowerCase()) || key.toLowerCase().startsWith('content-'))
				refuse(field, 'is set by the node itself.', 'Use the node\'s own fields for From, To, Subject, Reply-To and Importance; custom headers are for X-... headers and the like.');
			const text = String(value ?? '');
			noLineBreaks(field, text);
			if (key.length + 2 + text.length > MAX_HEADER_LINE)
				refuse(field, 'is longer than 998 characters.', 'Shorten the header value.');
			return { key, value: text };
		});
}

const MIME_TOKEN = /^[\w.+-]+$/;
const MIME_PARAMETER = /^[\w.+-]+=(?:[\w.+-]+|"[^"\\\r\n]*")$/;

/** `type/subtype`, optionally with parameters (`text/csv; charset=utf-8`); checked piece by piece. */
export function isMimeType(value: string): boolean {
	if (value.length > 255) return false;
	const [essence, ...parameters] = value.split(';');
	const [type, subtype, ...rest] = essence.trim().split('/');
	if (rest.length || !MIME_TOKEN.test(type ?? '') || !MIME_TOKEN.test(subtype ?? '')) return false;
	return parameters.every((p) => MIME_PARAMETER.test(p.trim()));
}

/** The file name without folders (`C:\\exports\\q3.csv` -> `q3.csv`): recipients never see local paths. */
export function baseName(fileName: string): string {
	const cut = Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\'));
	return fileName.slice(cut + 1) || fileName;
}

/** Bytes after base64 with 76-character lines (what an attachment costs on the wire). */
export function base64Size(bytes: number): number {
	const encoded = Math.ceil(bytes / 3) * 4;
	return encoded + Math.ceil(encoded / 76) * 2;
}

/** Upper estimate of the encoded message size: bodies and attachments as base64, plus headers. */
export function estimateSize(parts: { html?: string; text?: string; attachments: AttachmentInput[]; headerBytes: number }): number {
	const bodyBytes = [parts.html, parts.text].reduce((n, b) => n + (b ? base64Size(Buffer.byteLength(b)) : 0), 0);
	const perPart = 300; // MIME part headers and boundaries
	return parts.headerBytes + bodyBytes + parts.attachments.reduce((n, a) => n + base64Size(a.size) + perPart + Buffer.byteLength(a.fileName) * 2, 0) + perPart * 2;
}

function formatMb(bytes: number): string {
	return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function domainOf(address: string): string {
	return address.slice(address.lastIndexOf('@') + 1);
}

export function newMessageId(mailbox: string): string {
	return `<${randomUUID()}@${domainOf(mailbox)}>`;
}

const PRIORITY: Record<Importance, 'high' | 'normal' | 'low'> = { high: 'high', normal: 'normal', low: 'low' };

/** Validates everything and returns the mail options; throws a MailError naming the field otherwise. */
export function buildMail(input: MessageInput): MailOptions {
	const from = input.from?.trim() ? parseAddressList(input.from, 'From') : [{ name: '', address: input.mailbox }];
	if (from.length !== 1) refuse('From', 'must be exactly one address.', 'Enter one sender address, or leave From empty to send as the credential\'s mailbox.');
	const to = parseAddressList(input.to, 'To');
	const cc = parseAddressList(input.cc, 'CC');
	const bcc = parseAddressList(input.bcc, 'BCC');
	const replyToValue = input.replyTo?.trim() || input.defaultReplyTo?.trim() || '';
	const replyTo = parseAddressList(replyToValue, input.replyTo?.trim() ? 'Reply-To' : 'Default Reply-To (credential)');

	const recipients = new Set([...to, ...cc, ...bcc].map((a) => a.address.toLowerCase()));
	if (recipients.size === 0) refuse('To', 'no recipient given.', 'Enter at least one address in To (or CC/BCC).');
	if (recipients.size > EXCHANGE_LIMITS.recipientsPerMessage)
		refuse('To/CC/BCC', `${recipients.size} recipients is more than the ${EXCHANGE_LIMITS.recipientsPerMessage} Exchange Online accepts per message.`, 'Split the recipients over several emails (e.g. one per item), or send to a distribution list.');

	noLineBreaks('Subject', input.subject);
	const headers = validateHeaders(input.headers ?? []);
	const attachments = input.attachments ?? [];
	for (const a of attachments) {
		noLineBreaks(`File name of ${a.origin}`, a.fileName);
		if (!isMimeType(a.contentType))
			refuse(`Content type of ${a.origin}`, `"${a.contentType.slice(0, 80)}" is not a MIME type.`, 'Set the binary data\'s MIME type (e.g. application/pdf or text/csv; charset=utf-8) in the node that created it.');
	}

	const { html, text } = bodies(input);
	const max = input.maxMessageBytes ?? EXCHANGE_LIMITS.maxMessageBytes;
	const headerBytes = 2048 + Buffer.byteLength(input.subject) * 2 + [...to, ...cc, ...bcc].reduce((n, a) => n + a.address.length + a.name.length * 2 + 4, 0);
	const size = estimateSize({ html, text, attachments, headerBytes });
	const bodyBytes = Buffer.byteLength(html ?? '') + Buffer.byteLength(text ?? '');
	if (size > max && bodyBytes * 2 > size)
		refuse(
			'Message size',
			`the body alone is about ${formatMb(bodyBytes)} (${formatMb(size)} after encoding with the attachments), over the maximum of ${formatMb(max)}.`,
			'For a report of many items, choose Report Output "CSV File Only", pick fewer Columns, or filter or split the items; or raise Options > Max Message Size if your server accepts more.',
		);
	if (size > max) {
		const biggest = [...attachments].sort((a, b) => b.size - a.size)[0];
		refuse(
			'Attachments',
			`the message would be about ${formatMb(size)} after encoding (attachments grow by a third as base64), over the maximum of ${formatMb(max)}.`,
			`Attach fewer or smaller files${biggest ? ` (largest: ${biggest.fileName}, ${formatMb(biggest.size)})` : ''}, share large files by link, or raise Options > Max Message Size if your server accepts more (Exchange Online: up to 150 MB when the admin allows it).`,
		);
	}

	const mail: MailOptions = {
		messageId: input.messageId ?? newMessageId(input.mailbox),
		date: input.date ?? new Date(),
		from: from[0],
		to,
		cc: cc.length ? cc : undefined,
		bcc: bcc.length ? bcc : undefined,
		replyTo: replyTo.length ? replyTo : undefined,
		subject: input.subject,
		html,
		text,
		priority: PRIORITY[input.importance ?? 'normal'],
		headers: headers.length ? headers : undefined,
		attachments: attachments.map((a) => ({
			filename: baseName(a.fileName),
			contentType: a.contentType,
			content: a.content,
			...(a.cid ? { cid: a.cid, contentDisposition: 'inline' as const } : {}),
		})),
		// Items may never make nodemailer read local files or fetch URLs.
		disableFileAccess: true,
		disableUrlAccess: true,
	};
	return mail;
}
