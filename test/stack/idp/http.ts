// Small node:http helpers shared by the IdP routes and its admin API.
import type { IncomingMessage, ServerResponse } from 'node:http';

const MAX_BODY_BYTES = 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of req) {
		const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
		size += buf.length;
		if (size > MAX_BODY_BYTES) throw new Error('request body too large');
		chunks.push(buf);
	}
	return Buffer.concat(chunks).toString('utf8');
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A form (`a=b&c=d`) or JSON object body as URLSearchParams; non-string JSON values are stringified. */
export function parseParams(body: string, contentType: string | undefined): URLSearchParams {
	if ((contentType ?? '').includes('json') && body.trim() !== '') {
		const parsed: unknown = JSON.parse(body);
		const params = new URLSearchParams();
		if (isRecord(parsed)) {
			for (const [k, v] of Object.entries(parsed)) {
				if (v !== undefined && v !== null) params.set(k, typeof v === 'string' ? v : JSON.stringify(v));
			}
		}
		return params;
	}
	return new URLSearchParams(body);
}

export function parseJsonObject(body: string): Record<string, unknown> {
	if (body.trim() === '') return {};
	const parsed: unknown = JSON.parse(body);
	if (!isRecord(parsed)) throw new Error('expected a JSON object');
	return parsed;
}

/** `Authorization: Basic base64(urlencode(id):urlencode(secret))`, as RFC 6749 2.3.1 says. */
export function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
	const match = /^Basic\s+(.+)$/i.exec(header ?? '');
	if (!match) return undefined;
	const decoded = Buffer.from(match[1], 'base64').toString('utf8');
	const colon = decoded.indexOf(':');
	if (colon < 0) return undefined;
	const unescape = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
	return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
}

export function bearerToken(header: string | undefined): string | undefined {
	const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
	return match ? match[1].trim() : undefined;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
	const text = JSON.stringify(body);
	res.writeHead(status, {
		'content-type': 'application/json; charset=utf-8',
		'cache-control': 'no-store',
		pragma: 'no-cache',
		'content-length': String(Buffer.byteLength(text)),
		...headers,
	});
	res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/html; charset=utf-8'): void {
	res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)) });
	res.end(text);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
