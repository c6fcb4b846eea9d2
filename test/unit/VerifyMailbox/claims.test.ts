import { claimWarnings, describeClaims, readTokenClaims } from '../../../nodes/VerifyMailbox/claims';

const jwt = (payload: Record<string, unknown>) =>
	['{"alg":"RS256"}', JSON.stringify(payload)].map((p) => Buffer.from(p).toString('base64url')).join('.') + '.c2ln';

describe('readTokenClaims', () => {
	it('reads audience, scopes, identity and expiry of a delegated token', () => {
		const claims = readTokenClaims(jwt({ aud: 'https://outlook.office.com', scp: 'SMTP.Send IMAP.AccessAsUser.All', upn: 'a@x.test', exp: 2000, idtyp: 'user' }));
		expect(claims).toEqual(expect.objectContaining({ audience: 'https://outlook.office.com', scopes: ['SMTP.Send', 'IMAP.AccessAsUser.All'], identity: 'a@x.test', expiresAt: 2_000_000, appOnly: false }));
	});

	it('reads roles of an app-only token', () => {
		const claims = readTokenClaims(jwt({ aud: 'https://outlook.office365.com', roles: ['SMTP.SendAsApp', 'IMAP.AccessAsApp'], appid: 'app-1' }));
		expect(claims).toEqual(expect.objectContaining({ roles: ['SMTP.SendAsApp', 'IMAP.AccessAsApp'], appOnly: true, appId: 'app-1' }));
	});

	it('returns undefined for opaque or garbled tokens', () => {
		expect(readTokenClaims('EwBwA8l6BAAU-opaque')).toBeUndefined();
		expect(readTokenClaims('a.b.c')).toBeUndefined();
	});
});

describe('claimWarnings', () => {
	const want = { smtp: true, imap: true, mailbox: 'reports@x.test', microsoft: true };

	it('says which permission is missing, by grant type', () => {
		const delegated = readTokenClaims(jwt({ aud: 'https://outlook.office.com', scp: 'IMAP.AccessAsUser.All', upn: 'reports@x.test' }));
		expect(claimWarnings(delegated!, want)).toEqual([expect.stringMatching(/no SMTP permission \(SMTP\.Send\)/)]);
		const app = readTokenClaims(jwt({ aud: 'https://outlook.office365.com', roles: ['SMTP.SendAsApp'], idtyp: 'app' }));
		expect(claimWarnings(app!, want)).toEqual([expect.stringMatching(/no IMAP permission \(IMAP\.AccessAsApp\)/)]);
	});

	it('flags a Microsoft Graph token and a token issued to someone else', () => {
		const claims = readTokenClaims(jwt({ aud: 'https://graph.microsoft.com', scp: 'SMTP.Send IMAP.AccessAsUser.All', upn: 'bob@x.test' }));
		const warnings = claimWarnings(claims!, want).join('\n');
		expect(warnings).toMatch(/not Exchange Online/);
		expect(warnings).toMatch(/Signed in as bob@x\.test, for the mailbox reports@x\.test: SMTP logs in as bob@x\.test and sends as reports@x\.test \(needs Send As\); IMAP opens reports@x\.test \(needs Full Access\)/);
	});

	it('has nothing to say about a good token', () => {
		const claims = readTokenClaims(jwt({ aud: 'https://outlook.office.com', scp: 'SMTP.Send IMAP.AccessAsUser.All', upn: 'Reports@x.test' }));
		expect(claimWarnings(claims!, want)).toEqual([]);
	});
});

describe('describeClaims', () => {
	it('never contains the token, and says when claims are unreadable', () => {
		expect(describeClaims(undefined, 120_000, 0)).toBe('valid until 1970-01-01T00:02:00.000Z (2 min); the token is not a readable JWT, so scopes and audience are not shown');
		const text = describeClaims(readTokenClaims(jwt({ aud: 'https://outlook.office.com', roles: ['IMAP.AccessAsApp'], appid: 'app-1', exp: 60 })), undefined, 0);
		expect(text).toBe('valid until 1970-01-01T00:01:00.000Z (1 min); audience https://outlook.office.com; roles IMAP.AccessAsApp; app-only (client app-1)');
	});
});
