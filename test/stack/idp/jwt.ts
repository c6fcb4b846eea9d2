// RS256 JSON Web Tokens signed and checked with node:crypto only (jose is ESM-only and breaks jest CJS).
import { generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

export type Claims = Record<string, unknown>;

export interface SigningKey {
	kid: string;
	privateKey: KeyObject;
	publicKey: KeyObject;
}

export function generateSigningKey(): SigningKey {
	const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
	return { kid: randomUUID().replace(/-/g, '').slice(0, 16), privateKey, publicKey };
}

/** The public key as a JWKS entry, shaped like Entra's `/discovery/v2.0/keys`. */
export function publicJwk(key: SigningKey): Record<string, string> {
	const jwk = key.publicKey.export({ format: 'jwk' });
	return { kty: 'RSA', use: 'sig', alg: 'RS256', kid: key.kid, n: String(jwk.n), e: String(jwk.e) };
}

const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

export function signJwt(key: SigningKey, claims: Claims): string {
	const header = b64(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: key.kid }));
	const payload = b64(JSON.stringify(claims));
	const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), key.privateKey);
	return `${header}.${payload}.${b64(signature)}`;
}

function isClaims(value: unknown): value is Claims {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseSegment(segment: string): Claims | undefined {
	try {
		const parsed: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
		return isClaims(parsed) ? parsed : undefined;
	} catch {
		return undefined;
	}
}

export type JwtCheck = { ok: true; claims: Claims } | { ok: false; reason: string };

/** Checks shape, algorithm, key id, signature and the nbf/exp window. */
export function verifyJwt(key: SigningKey, token: string, nowSeconds: number): JwtCheck {
	const parts = token.split('.');
	if (parts.length !== 3) return { ok: false, reason: 'malformed token' };
	const [headerPart, payloadPart, signaturePart] = parts;
	const header = parseSegment(headerPart);
	const claims = parseSegment(payloadPart);
	if (!header || !claims) return { ok: false, reason: 'malformed token' };
	if (header.alg !== 'RS256') return { ok: false, reason: `unsupported alg ${String(header.alg)}` };
	if (header.kid !== key.kid) return { ok: false, reason: 'unknown signing key' };
	const signed = verify(
		'RSA-SHA256',
		Buffer.from(`${headerPart}.${payloadPart}`),
		key.publicKey,
		Buffer.from(signaturePart, 'base64url'),
	);
	if (!signed) return { ok: false, reason: 'invalid signature' };
	if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return { ok: false, reason: 'token expired' };
	if (typeof claims.nbf === 'number' && claims.nbf > nowSeconds + 300) {
		return { ok: false, reason: 'token not yet valid' };
	}
	return { ok: true, claims };
}
