// For scripts/dev.sh: in the n8n it started, a connected sandbox credential (id m365MailCred01,
// the one the examples use) against the local mail stack, and the example workflows imported.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importCredentials, importWorkflows } from '../test/n8n/cli';
import { N8nClient } from '../test/n8n/client';
import { mailStackConfig } from '../test/stack/mailstack';

const REPO = join(__dirname, '..');

async function main(): Promise<void> {
	const stack = mailStackConfig();
	await importCredentials([
		{
			id: 'm365MailCred01',
			name: 'Microsoft 365 Mail (sandbox)',
			type: 'microsoftMailOAuth2Api',
			data: {
				grantType: 'authorizationCode',
				tenantId: 'test-tenant',
				customAuthUrl: stack.authorizeUrl,
				customTokenUrl: stack.tokenUrl,
				clientId: stack.client.clientId,
				clientSecret: stack.client.clientSecret,
				mailbox: 'alice@example.test',
				smtpHost: '127.0.0.1',
				smtpPort: stack.ports.submission,
				smtpSecurity: 'starttls',
				imapHost: '127.0.0.1',
				imapPort: stack.ports.m365Imaps,
				customCa: readFileSync(stack.caPath, 'utf8'),
			},
		},
	]);
	const connect = await N8nClient.fromEnv().connectOAuth2('m365MailCred01');
	if (!connect.ok) throw new Error(`Connect my account failed (HTTP ${connect.status})`);
	const example = (file: string): Record<string, unknown> => JSON.parse(readFileSync(join(REPO, 'examples', file), 'utf8')) as Record<string, unknown>;
	await importWorkflows([
		{ ...example('weekly-report.json'), id: 'm365WeeklyRpt01' },
		{ ...example('mailbox-health-check.json'), id: 'm365HealthChk01' },
	]);
}

main().catch((error: unknown) => {
	console.error(error instanceof Error ? error.message : error);
	process.exit(1);
});
