/** Credential fields: a custom Token or Authorization URL may use http:// only to this machine. */
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
