/**
 * One fixture for the Send Report Email engine tests: the test IdP, the in-process SMTP server, a
 * credential pointing at them, and a runner that executes the node through n8n's WorkflowExecute.
 */
import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { startIdp, type Idp } from '../../stack/idp';
import { CredentialStore, chain, credentialData, runWorkflow } from '../../support/engine';
import { startSmtpServer, type SmtpFixture } from '../../support/smtp-server';

export const CLIENT = { clientId: 'client-1', clientSecret: 'client-secret-value-1' };
export const USER = 'alice@example.test';
export const SCOPE = 'offline_access https://outlook.office.com/SMTP.Send';
export const NODE = 'Send Report Email';

export interface Bed {
	idp: Idp;
	smtp: SmtpFixture;
	stop(): Promise<void>;
}

export async function startBed(): Promise<Bed> {
	const idp = await startIdp();
	idp.addClient({ ...CLIENT });
	const smtp = await startSmtpServer({ idp });
	return {
		idp,
		smtp,
		async stop() {
			await smtp.stop();
			await idp.stop();
		},
	};
}

/** Token data as "Connect my account" would have stored it. */
export function seededToken(idp: Idp, user = USER): IDataObject {
	const t = idp.issueTokens({ clientId: CLIENT.clientId, user, scope: SCOPE });
	return { ...t, n8n_expires_at: String(Date.now() + 3600_000) };
}

export function storeFor(bed: Bed, data: IDataObject = {}): CredentialStore {
	const store = new CredentialStore();
	store.add({
		id: 'cred-1',
		name: 'M365 reports',
		type: 'microsoftMailOAuth2Api',
		data: credentialData({
			customTokenUrl: bed.idp.tokenUrl(),
			customAuthUrl: bed.idp.authorizeUrl(),
			smtpPort: bed.smtp.port,
			customCa: bed.smtp.ca,
			oauthTokenData: seededToken(bed.idp),
			...data,
		}),
	});
	return store;
}

export type Item = { json: IDataObject; binary?: Record<string, { base64: string; fileName: string; mimeType: string; dropBytes?: boolean; bytes?: number }> };

export interface SendRun {
	items: Array<{ json: IDataObject; binary?: Record<string, IDataObject>; pairedItem?: unknown }>;
	error?: Error & { description?: string | null };
}

/** The workflow Items -> Send Report Email with the given parameters; `continueOnFail` sets onError. */
export function sendWorkflow(items: Item[], parameters: INodeParameters, opts: { continueOnFail?: boolean } = {}) {
	return chain(items, {
		name: NODE,
		type: 'n8n-nodes-m365-mail.sendReportEmail',
		parameters: { to: 'bob@example.test', subject: 'Report', html: '<p>Hello</p>', ...parameters },
		credentials: { microsoftMailOAuth2Api: { id: 'cred-1', name: 'M365 reports' } },
		...(opts.continueOnFail ? { onError: 'continueRegularOutput' as const } : {}),
	});
}

/** Runs Items -> Send Report Email with the given parameters; `continueOnFail` sets onError. */
export async function runSend(store: CredentialStore, items: Item[], parameters: INodeParameters, opts: { continueOnFail?: boolean } = {}): Promise<SendRun> {
	const { nodes, connections } = sendWorkflow(items, parameters, opts);
	const result = await runWorkflow({ nodes, connections, store });
	const error = result.error(NODE);
	if (error) return { items: [], error };
	return { items: result.output(NODE) as SendRun['items'] };
}

export const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
