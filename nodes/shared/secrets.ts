/**
 * Secret masking. Every message that leaves the package (error, description, output item, log line)
 * goes through `redact` first. Known secrets are removed by value (also in the base64 forms that
 * XOAUTH2 uses on the wire); anything that looks like a bearer token is removed by shape.
 */

const MASK = '[redacted]';

const SHAPES: RegExp[] = [
	// JWTs (Entra access and id tokens)
	/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g,
	// Bearer tokens in headers or SASL strings
	/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
	// OAuth parameters in form bodies, URLs or JSON
	/((?:access_token|refresh_token|client_secret|id_token)["']?\s*[:=]\s*["']?)[^\s"'&,}]+/gi,
	// XOAUTH2 / OAUTHBEARER initial responses (base64 of "user=...\x01auth=Bearer ...")
	/(AUTH(?:ENTICATE)?\s+(?:XOAUTH2|OAUTHBEARER)\s+)[A-Za-z0-9+/=]{16,}/gi,
];

function variants(secret: string): string[] {
	const out = new Set<string>([secret]);
	out.add(Buffer.from(secret).toString('base64'));
	out.add(encodeURIComponent(secret));
	return [...out].filter((v) => v.length >= 6);
}

export function redact(text: string, secrets: Iterable<string | undefined> = []): string {
	let out = text;
	for (const secret of secrets) {
		if (!secret || secret.length < 6) continue;
		for (const v of variants(secret)) out = out.split(v).join(MASK);
	}
	for (const shape of SHAPES) {
		out = out.replace(shape, (_match: string, prefix?: unknown) =>
			typeof prefix === 'string' ? `${prefix}${MASK}` : MASK,
		);
	}
	return out;
}

/** Collects the secret values of a credential so they can be masked by value. */
export function secretsOf(data: Record<string, unknown>): string[] {
	const found: string[] = [];
	const visit = (value: unknown, key: string) => {
		if (typeof value === 'string' && /token|secret|password/i.test(key)) found.push(value);
		else if (value && typeof value === 'object')
			for (const [k, v] of Object.entries(value)) visit(v, k);
	};
	visit(data, '');
	return found;
}
