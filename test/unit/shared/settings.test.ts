import { readFileSync } from 'node:fs';
import path from 'node:path';

import { CLOUDS } from '../../../nodes/shared/constants';
import { checkMailboxSettings } from '../../../nodes/shared/settings';

const base = { grantType: 'authorizationCode', cloud: 'global', tenantId: 'contoso.onmicrosoft.com', clientId: 'c', clientSecret: 's', mailbox: 'reports@contoso.com' };

describe('the tenant', () => {
	it('is required: no multi-tenant default', () => {
		const { error } = checkMailboxSettings({ ...base, tenantId: '' });
		expect(error).toMatchObject({ field: 'Directory (Tenant) ID', hint: expect.stringMatching(/Overview page/) });
	});

	it('may be left empty only when a custom token URL names it', () => {
		expect(checkMailboxSettings({ ...base, tenantId: '', customTokenUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token' }).error).toBeUndefined();
	});

	it('app-only refuses common/organizations before any request', () => {
		expect(checkMailboxSettings({ ...base, grantType: 'clientCredentials', tenantId: 'organizations' }).error).toMatchObject({ field: 'Directory (Tenant) ID' });
	});
});

describe('IMAP security and the signed-in account field', () => {
	it('implicit TLS by default, STARTTLS when chosen', () => {
		expect(checkMailboxSettings(base).settings?.imap).toMatchObject({ host: 'outlook.office365.com', port: 993, secure: true });
		expect(checkMailboxSettings({ ...base, imapSecurity: 'starttls', imapPort: 143 }).settings?.imap).toMatchObject({ port: 143, secure: false });
	});

	it('checks the Signed-In Account (UPN) and ignores it for app-only', () => {
		expect(checkMailboxSettings({ ...base, signInAccount: 'not an address' }).error).toMatchObject({ field: 'Signed-In Account (UPN)' });
		expect(checkMailboxSettings({ ...base, signInAccount: 'alice@contoso.com' }).settings?.signInAccount).toBe('alice@contoso.com');
		expect(checkMailboxSettings({ ...base, grantType: 'clientCredentials', signInAccount: 'alice@contoso.com' }).settings?.signInAccount).toBeUndefined();
	});
});

describe('sovereign cloud defaults', () => {
	it("use Microsoft's current hosts", () => {
		expect(CLOUDS.china.loginHost).toBe('https://login.partner.microsoftonline.cn');
		expect(CLOUDS.usGovDod.smtpHost).toBe('outlook-dod.office365.us');
		expect(CLOUDS.usGovHigh.smtpHost).toBe('outlook.office365.us');
		expect(checkMailboxSettings({ ...base, cloud: 'usGovDod' }).settings?.smtp.host).toBe('outlook-dod.office365.us');
	});

	it('cite a source for each default in constants.ts', () => {
		const source = readFileSync(path.join(__dirname, '../../../nodes/shared/constants.ts'), 'utf8');
		for (const cited of ['authentication-national-cloud.md', 'gcc-high-endpoints.md', 'dod-endpoints.md', 'how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth.md', 'email-oauth2-proxy']) expect(source).toContain(cited);
	});
});
