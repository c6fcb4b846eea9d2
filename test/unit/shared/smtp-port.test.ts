import { checkMailboxSettings } from '../../../nodes/shared/settings';

const base = { mailbox: 'reports@contoso.com', tenantId: 'contoso.onmicrosoft.com', clientId: 'c' };
const smtpOf = (data: Record<string, unknown>) => checkMailboxSettings({ ...base, ...data }).settings?.smtp;

describe('SMTP port follows the security mode unless typed', () => {
	it('implicit TLS with the untouched default 587 connects to 465', () => {
		expect(smtpOf({ smtpSecurity: 'tls', smtpPort: 587 })).toMatchObject({ port: 465, secure: true });
	});
	it('a port typed by the user is kept', () => {
		expect(smtpOf({ smtpSecurity: 'tls', smtpPort: 2465 })).toMatchObject({ port: 2465, secure: true });
		expect(smtpOf({ smtpSecurity: 'starttls', smtpPort: 587 })).toMatchObject({ port: 587, secure: false });
	});
});
