/** Credential fields: a custom Token or Authorization URL may use http:// only to this machine; the tenant, IMAP security, the signed-in account and sovereign defaults. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { CLOUDS } from '../../../nodes/shared/constants';
import { checkMailboxSettings } from '../../../nodes/shared/settings';

const base = { mailbox: 'reports@contoso.com', tenantId: 'contoso.onmicrosoft.com' };

describe('custom endpoint URLs', () => {
	it.each([
		['customTokenUrl', 'Custom Token URL', 'http://login.example.com/tenant/oauth2/v2.0/token'],
		['customAuthUrl', 'Custom Authorization URL', 'http://10.0.0.5/authorize'],
	])('refuses %s over http:// to another host, naming the field', (key, field, url) => {
		const { error } = checkMailboxSettings({ ...base, [key]: url });
		expect(error?.field).toBe(field);
		expect(error?.message).toMatch(/http:\/\/ .*unencrypted/);
		expect(error?.hint).toMatch(/https:\/\//);
	});

	it.each(['http://127.0.0.1:8080/token', 'http://localhost/token', 'http://[::1]:9000/token', 'https://login.example.com/token'])('accepts %s', (url) => {
		expect(checkMailboxSettings({ ...base, customTokenUrl: url }).error).toBeUndefined();
	});
});

describe('addresses in the credential', () => {
	it('refuses a mailbox longer than an address may be (254)', () => {
		expect(checkMailboxSettings({ ...base, mailbox: `${'a'.repeat(60)}@${'b'.repeat(200)}.com` }).error?.field).toBe('Mailbox');
	});
	it('reads a Default Reply-To with a display name', () => {
		expect(checkMailboxSettings({ ...base, replyTo: 'Help Desk <help@contoso.com>' }).error).toBeUndefined();
		expect(checkMailboxSettings({ ...base, replyTo: 'Help Desk <<<' }).error?.field).toBe('Default Reply-To');
	});
});


const credential = { grantType: 'authorizationCode', cloud: 'global', tenantId: 'contoso.onmicrosoft.com', clientId: 'c', clientSecret: 's', mailbox: 'reports@contoso.com' };

describe('the tenant', () => {
	it('is required: no multi-tenant default', () => {
		const { error } = checkMailboxSettings({ ...credential, tenantId: '' });
		expect(error).toMatchObject({ field: 'Directory (Tenant) ID', hint: expect.stringMatching(/Overview page/) });
	});

	it('may be left empty only when a custom token URL names it', () => {
		expect(checkMailboxSettings({ ...credential, tenantId: '', customTokenUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token' }).error).toBeUndefined();
	});

	it('app-only refuses common/organizations before any request', () => {
		expect(checkMailboxSettings({ ...credential, grantType: 'clientCredentials', tenantId: 'organizations' }).error).toMatchObject({ field: 'Directory (Tenant) ID' });
	});
});

describe('IMAP security and the signed-in account field', () => {
	it('implicit TLS by default, STARTTLS when chosen', () => {
		expect(checkMailboxSettings(credential).settings?.imap).toMatchObject({ host: 'outlook.office365.com', port: 993, secure: true });
		expect(checkMailboxSettings({ ...credential, imapSecurity: 'starttls', imapPort: 143 }).settings?.imap).toMatchObject({ port: 143, secure: false });
	});

	it('checks the Signed-In Account (UPN) and ignores it for app-only', () => {
		expect(checkMailboxSettings({ ...credential, signInAccount: 'not an address' }).error).toMatchObject({ field: 'Signed-In Account (UPN)' });
		expect(checkMailboxSettings({ ...credential, signInAccount: 'alice@contoso.com' }).settings?.signInAccount).toBe('alice@contoso.com');
		expect(checkMailboxSettings({ ...credential, grantType: 'clientCredentials', signInAccount: 'alice@contoso.com' }).settings?.signInAccount).toBeUndefined();
	});
});

describe('sovereign cloud defaults', () => {
	it("use Microsoft's current hosts", () => {
		expect(CLOUDS.china.loginHost).toBe('https://login.partner.microsoftonline.cn');
		expect(CLOUDS.usGovDod.smtpHost).toBe('outlook-dod.office365.us');
		expect(CLOUDS.usGovHigh.smtpHost).toBe('outlook.office365.us');
		expect(checkMailboxSettings({ ...credential, cloud: 'usGovDod' }).settings?.smtp.host).toBe('outlook-dod.office365.us');
	});

	it('cite a source for each default in constants.ts', () => {
		const source = readFileSync(path.join(__dirname, '../../../nodes/shared/constants.ts'), 'utf8');
		for (const cited of ['authentication-national-cloud.md', 'gcc-high-endpoints.md', 'dod-endpoints.md', 'how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth.md', 'email-oauth2-proxy']) expect(source).toContain(cited);
	});
});
