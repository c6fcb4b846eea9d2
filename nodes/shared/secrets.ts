/**
 * Secret masking. Every message that leaves the package (error, description, output item, log line)
 * goes through `redact` first. Known secrets are removed by value, in every encoding the package
 * itself puts on the wire: raw, URL-encoded, and base64 at each of the three byte alignments a
 * secret can have inside a longer base64 string (the XOAUTH2 and OAUTHBEARER initial responses are
 * base64 of `user=...\x01auth=Bearer <token>\x01\x01` and `n,a=...,\x01host=...\x01auth=Bearer <token>\x01\x01`,
 * so where the token starts depends on the user name). Anything that looks like a bearer token is
 * removed by shape. Every pattern here runs in linear time.
 */

const MASK = '[redacted]';

const SHAPES: RegExp[] = [
	// Bearer tokens in headers or SASL strings
	/(Bearer[ \t]{1,16})[A-Za-z0-9._~+/=-]+/gi,
	// OAuth parameters in form bodies, URLs or JSON
	/((?:access_token|refresh_token|client_secret|id_token)["']?[ \t]{0,16}[:=][ \t]{0,16}["']?)[^\s"'&,}]+/gi,
	// XOAUTH2 / OAUTHBEARER initial responses (base64 of "user=...\x01auth=Bearer ...")
	/(AUTH(?:ENTICATE)?[ \t]{1,16}(?:XOAUTH2|OAUTHBEARER)[ \t]{1,16})[A-Za-z0-9+/=]{16,}/gi,
];

/** Runs of characters a JWT is made of; each run is looked at once. */
const TOKEN_RUN = /[A-Za-z0-9._-]{20,}/g;

/** Masks JWTs (Entra access and id tokens): `eyJ<8+>.<8+>.<any>` inside a run of token characters. */
function maskJwts(text: string): string {
	return text.replace(TOKEN_RUN, (run) => {
		if (!run.includes('eyJ')) return run;
		const segments = run.split('.');
		const out: string[] = [];
		let i = 0;
		while (i < segments.length) {
			const at = segments[i].indexOf('eyJ');
			if (at >= 0 && i + 2 < segments.length && segments[i].length - at >= 11 && segments[i + 1].length >= 8) {
				out.push(`${segments[i].slice(0, at)}${MASK}`);
				i += 3;
			} else out.push(segments[i++]);
		}
		return out.join('.');
	});
}

/**
 * The base64 text that stands for `secret` wherever it sits in a longer encoded string: for each
 * byte offset (0, 1, 2) the characters that depend on the secret's bytes alone.
 */
export function base64Forms(secret: string): string[] {
	const bytes = Buffer.from(secret);
	const forms: string[] = [];
	for (let offset = 0; offset < 3; offset++) {
		const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64').replace(/=+$/, '');
		const first = Math.ceil((offset * 8) / 6);
		const end = Math.floor(((offset + bytes.length) * 8) / 6);
		forms.push(encoded.slice(first, end));
	}
	return forms;
}

function variants(secret: string): string[] {
	const out = new Set<string>([secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret), ...base64Forms(secret)]);
	// Longest first, so a full form is masked before a shorter one could cut it.
	return [...out].filter((v) => v.length >= 6).sort((a, b) => b.length - a.length);
}

/** A masking function for a set of secrets; their encoded forms are worked out once. */
export function masker(secrets: Iterable<string | undefined> = []): (text: string) => string {
	const forms = [...new Set([...secrets].filter((s): s is string => !!s && s.length >= 6).flatMap(variants))].sort((a, b) => b.length - a.length);
	return (text: string) => {
		let out = text;
		for (const form of forms) if (out.includes(form)) out = out.split(form).join(MASK);
		out = maskJwts(out);
		for (const shape of SHAPES) {
			out = out.replace(shape, (_match: string, prefix?: unknown) =>
				typeof prefix === 'string' ? `${prefix}${MASK}` : MASK,
			);
		}
		return out;
	};
}

export function redact(text: string, secrets: Iterable<string | undefined> = []): string {
	return masker(secrets)(text);
}

/**
 * Masks every string inside a result (objects, lists, nested), keys and structure untouched. Use
 * this instead of masking serialized JSON: a mask cut into JSON text can break its quoting.
 */
export function redactValues<T>(value: T, secrets: string[]): T {
	const mask = masker(secrets);
	const visit = (v: unknown): unknown => {
		if (typeof v === 'string') return mask(v);
		if (Array.isArray(v)) return v.map(visit);
		if (v && typeof v === 'object' && !(v instanceof Date)) {
			const out: Record<string, unknown> = {};
			for (const [k, inner] of Object.entries(v)) out[k] = visit(inner);
			return out;
		}
		return v;
	};
	return visit(value) as T;
}

/** Collects the secret values of a credential so they can be masked by value. */
export function secretsOf(data: Record<string, unknown>): string[] {
	const found: string[] = [];
	const visit = (value: unknown, key: string) => {
		// token_type ("Bearer") names the kind of token; it is no secret.
		if (typeof value === 'string' && /token|secret|password/i.test(key) && key !== 'token_type') found.push(value);
		else if (value && typeof value === 'object')
			for (const [k, v] of Object.entries(value)) visit(v, k);
	};
	visit(data, '');
	return found;
}
