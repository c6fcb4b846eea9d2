/**
 * Masking covers every encoding the package puts on the wire: the token raw, URL-encoded, and inside
 * the base64 XOAUTH2 / OAUTHBEARER strings at each of the three byte alignments a user name can give.
 */
import { redact, redactValues, secretsOf } from '../../../nodes/shared/secrets';

const token = 'opaque-access-token-0123456789abcdef';

function decodesToToken(text: string): boolean {
	for (const run of text.match(/[A-Za-z0-9+/]{12,}={0,2}/g) ?? [])
		for (let offset = 0; offset < 4; offset++) {
			const chars = run.slice(offset).replace(/=+$/, '');
			if (Buffer.from(chars.slice(0, chars.length - (chars.length % 4)), 'base64').toString('latin1').includes(token)) return true;
		}
	return false;
}

describe('redact', () => {
	it.each(['a@b.c', 'ab@b.c', 'abc@b.c', 'reports@contoso.com'])('masks the base64 XOAUTH2 string of user %s', (user) => {
		const wire = Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
		expect(decodesToToken(wire)).toBe(true);
		const out = redact(`535 5.7.3 Authentication unsuccessful ${wire}`, [token]);
		expect(out).toContain('[redacted]');
		expect(decodesToToken(out)).toBe(false);
	});

	it.each(['a@b.c', 'ab@b.c', 'abc@b.c'])('masks the base64 OAUTHBEARER string of user %s', (user) => {
		const wire = Buffer.from(`n,a=${user},\x01host=outlook.office365.com\x01port=993\x01auth=Bearer ${token}\x01\x01`).toString('base64');
		expect(decodesToToken(redact(`A1 NO ${wire}`, [token]))).toBe(false);
	});

	it('masks the raw and URL-encoded token, JWTs by shape and OAuth parameters', () => {
		const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
		const out = redact(`t=${token} u=${encodeURIComponent('a/b+c=d-secret')} ${jwt} refresh_token=xyz123456 Bearer abcdef`, [token, 'a/b+c=d-secret']);
		expect(out).toBe('t=[redacted] u=[redacted] [redacted] refresh_token=[redacted] Bearer [redacted]');
	});
});

describe('redactValues', () => {
	it('masks strings inside objects and lists and keeps the structure (no JSON text is cut)', () => {
		const out = redactValues({ folders: ['INBOX', 'access_token="abc123456"'], nested: { said: `token ${token}` }, n: 3, ok: true }, [token]);
		expect(out).toEqual({ folders: ['INBOX', 'access_token="[redacted]"'], nested: { said: 'token [redacted]' }, n: 3, ok: true });
	});
});

describe('secretsOf', () => {
	it('collects tokens and secrets but not token_type', () => {
		expect(secretsOf({ clientSecret: 's3cret-value', oauthTokenData: { access_token: 'at-value', refresh_token: 'rt-value', token_type: 'Bearer' } })).toEqual(['s3cret-value', 'at-value', 'rt-value']);
	});
});
