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
	const parts: string[] = [];
	let current = '';
	let quoted = false;
	let angle = false;
	for (const ch of value) {
		if (ch === '"' && !angle) quoted = !quoted;
		else if (ch === '<' && !quoted) angle = true;
		else if (ch === '>' && !quoted) angle = false;
		if (!quoted && !angle && (ch === ',' || ch === ';' || ch === '\n' || ch === '\r')) {
			parts.push(current);
			current = '';
		} else current += ch;
	}
	parts.push(current);
	return parts.map((p) => p.trim()).filter(Boolean);
}

const LOCAL_PART = /^[^\s@<>()",;:\\[\]]+$/u;

/** `user@bücher.example` -> `user@xn--bcher-kva.example`; undefined when not an address. */
export function normalizeAddress(address: string): string | undefined {
	const at = address.lastIndexOf('@');
	if (at < 1) return undefined;
	const local = address.slice(0, at);
	const domain = domainToASCII(address.slice(at + 1));
	if (!LOCAL_PART.test(local) || !domain || !domain.includes('.') || domain.startsWith('.') || domain.endsWith('.')) return undefined;
	return `${local}@${domain}`;
}

/** One entry: `a@x`, `<a@x>`, `Name <a@x>` or `"Last, First" <a@x>`. */
export function parseAddress(entry: string, field: string): Address {
	const m = /^(.*?)\s*<([^<>]+)>$/s.exec(entry);
	const rawName = m ? m[1].trim() : '';
	const rawAddress = (m ? m[2] : entry).trim();
	const name = rawName.replace(/^"(.*)"$/s, '$1').replace(/\\(.)/g, '$1').trim();
	const address = normalizeAddress(rawAddress);
	if (!address)
		refuse(field, `"${entry}" is not an email address.`, `Write addresses as name@domain.com or Name <name@domain.com>, separated by commas.`);
	return { name, address };
}

export function parseAddressList(value: string | undefined, field: string): Address[] {
	if (!value) return [];
	noLineBreaksInNames(value, field);
	return splitAddressList(value).map((entry) => parseAddress(entry, field));
}

function noLineBreaksInNames(value: string, field: string): void {
	// Newlines separate list entries; a line break inside a quoted name is an injection attempt.
	if (/"[^"]*[\r\n][^"]*"/.test(value) || /\0/.test(value))
		refuse(field, 'contains a line break inside a display name, which could inject extra mail headers.', `Remove line breaks from ${field}.`);
}

/** Readable plain text from simple HTML (signatures, bodies when only HTML is given). */
export function htmlToText(html: string): string {
	return html
		.replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, '')
		.replace(/<br\s*\/?>/gi, '\n')
		.replace(/<\/(p|div|tr|h[1-6]|li|table)>/gi, '\n')
		.replace(/<\/t[dh]>/gi, '\t')
		.replace(/<[^>]+>/g, '')
		.replace(/&nbsp;/g, ' ')
		.replace(/&lt;/g, '<')
		.replace(/&gt;/g, '>')
		.replace(/&quot;/g, '"')
		.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n)))
		.replace(/&amp;/g, '&')
		.replace(/[ \t]+\n/g, '\n')
		.replace(/\n{3,}/g, '\n\n')
		.trim();
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
		if (!/^[\w.+-]+\/[\w.+-]+$/.test(a.contentType))
			refuse(`Content type of ${a.origin}`, `"${a.contentType}" is not a MIME type.`, 'Set the binary data\'s MIME type (e.g. application/pdf) in the node that created it.');
	}

	const { html, text } = bodies(input);
	const max = input.maxMessageBytes ?? EXCHANGE_LIMITS.maxMessageBytes;
	const headerBytes = 2048 + Buffer.byteLength(input.subject) * 2 + [...to, ...cc, ...bcc].reduce((n, a) => n + a.address.length + a.name.length * 2 + 4, 0);
	const size = estimateSize({ html, text, attachments, headerBytes });
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
			filename: a.fileName,
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
