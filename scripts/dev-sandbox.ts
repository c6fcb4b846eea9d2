// For scripts/dev.sh: in the n8n it started, a connected sandbox credential (id m365MailCred01,
// the one the examples use) against the local mail stack, and the example workflows imported.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importCredentials, importWorkflows } from '../test/n8n/cli';
import { N8nClient } from '../test/n8n/client';
import { mailStackConfig, stackCredentialFields } from '../test/stack/mailstack';

const REPO = join(__dirname, '..');

async function main(): Promise<void> {
	const stack = mailStackConfig();
	await importCredentials([
		{
			id: 'm365MailCred01',
			name: 'Microsoft 365 Mail (sandbox)',
			type: 'microsoftMailOAuth2Api',
			data: stackCredentialFields(stack),
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
