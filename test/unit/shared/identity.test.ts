import { isDelegate, loginPlan, signedInAccountOf } from '../../../nodes/shared/identity';

const jwt = (claims: Record<string, unknown>) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('signedInAccountOf: the UPN from what the sign-in returned', () => {
	it('prefers the access token upn, then the id_token upn, then preferred_username', () => {
		expect(signedInAccountOf({ access_token: jwt({ upn: 'a.upn@contoso.onmicrosoft.com', email: 'alice@contoso.com' }) })).toBe('a.upn@contoso.onmicrosoft.com');
		expect(signedInAccountOf({ access_token: 'opaque', id_token: jwt({ upn: 'id.upn@contoso.com', preferred_username: 'other@contoso.com' }) })).toBe('id.upn@contoso.com');
		expect(signedInAccountOf({ access_token: 'opaque', id_token: jwt({ preferred_username: 'pref@contoso.com' }) })).toBe('pref@contoso.com');
	});

	it('never takes email (the primary address may differ from the UPN)', () => {
		expect(signedInAccountOf({ access_token: jwt({ email: 'alice@contoso.com' }) })).toBeUndefined();
	});

	it('reads nothing from an app-only token, an opaque token or a claim that is not an address', () => {
		expect(signedInAccountOf({ access_token: jwt({ idtyp: 'app', upn: 'x@contoso.com' }) })).toBeUndefined();
		expect(signedInAccountOf({ access_token: 'not-a-jwt' })).toBeUndefined();
		expect(signedInAccountOf({ access_token: jwt({ upn: 'no address' }) })).toBeUndefined();
	});
});

describe('loginPlan: who logs in where', () => {
	const token = { access_token: jwt({ upn: 'alice@contoso.com' }) };
	it('delegated shared mailbox: SMTP as the delegate, IMAP as the shared mailbox', () => {
		const plan = loginPlan({ grantType: 'authorizationCode', mailbox: 'reports@contoso.com', tokenData: token });
		expect(plan).toEqual({ smtpUser: 'alice@contoso.com', imapUser: 'reports@contoso.com', signedInAccount: 'alice@contoso.com', source: 'token' });
		expect(isDelegate(plan)).toBe(true);
	});

	it('the credential field only when the sign-in does not say', () => {
		expect(loginPlan({ grantType: 'authorizationCode', mailbox: 'carol@contoso.com', tokenData: { access_token: 'opaque' }, signInAccount: 'c.jones@contoso.onmicrosoft.com' })).toMatchObject({ smtpUser: 'c.jones@contoso.onmicrosoft.com', source: 'credential' });
		expect(loginPlan({ grantType: 'authorizationCode', mailbox: 'carol@contoso.com', tokenData: token, signInAccount: 'typo@contoso.com' })).toMatchObject({ smtpUser: 'alice@contoso.com', source: 'token' });
	});

	it('falls back to the mailbox when nothing names the account', () => {
		const plan = loginPlan({ grantType: 'authorizationCode', mailbox: 'alice@contoso.com', tokenData: {} });
		expect(plan).toMatchObject({ smtpUser: 'alice@contoso.com', imapUser: 'alice@contoso.com', source: 'mailbox' });
		expect(isDelegate(plan)).toBe(false);
	});

	it('app-only: the mailbox for both, whatever the token says', () => {
		expect(loginPlan({ grantType: 'clientCredentials', mailbox: 'reports@contoso.com', tokenData: token })).toEqual({ smtpUser: 'reports@contoso.com', imapUser: 'reports@contoso.com', source: 'app' });
	});
});
