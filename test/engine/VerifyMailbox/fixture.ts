/**
 * One fixture for the Verify Mailbox engine tests: the test IdP, credentials pointing at in-process
 * servers, and a runner that executes the node through n8n's real WorkflowExecute.
 */
import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { startIdp, type Idp } from '../../stack/idp';
import { CredentialStore, chain, credentialData, runWorkflow } from '../../support/engine';

export const CLIENT = { clientId: 'client-1', clientSecret: 'client-secret-value-1' };
export const USER = 'alice@example.test';
export const OTHER_USER = 'bob@example.test';
export const SCOPE = 'offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All';

export async function startTestIdp(): Promise<Idp> {
	const idp = await startIdp();
	idp.addClient({ ...CLIENT, appMailboxes: [USER] });
	return idp;
}

/** Token data as "Connect my account" would have stored it. */
export function seededToken(idp: Idp, options: { user?: string; validForMs?: number; jwtExpiresIn?: number } = {}): IDataObject {
	const t = idp.issueTokens({ clientId: CLIENT.clientId, user: options.user ?? USER, scope: SCOPE, expiresIn: options.jwtExpiresIn });
	return { ...t, n8n_expires_at: String(Date.now() + (options.validForMs ?? 3600_000)) };
}

export interface Endpoints {
	imap?: { port: number; ca: string };
	smtp?: { port: number; ca: string };
}

export function storeWith(idp: Idp, endpoints: Endpoints, data: IDataObject = {}): CredentialStore {
	const store = new CredentialStore();
	const ca = [endpoints.imap?.ca, endpoints.smtp?.ca].filter(Boolean).filter((v, i, a) => a.indexOf(v) === i).join('\n');
	store.add({
		id: 'cred-1',
		name: 'M365 reports',
		type: 'microsoftMailOAuth2Api',
		data: credentialData({
			customTokenUrl: idp.tokenUrl(),
			customAuthUrl: idp.authorizeUrl(),
			imapPort: endpoints.imap?.port ?? 1,
			smtpPort: endpoints.smtp?.port ?? 1,
			...(ca ? { customCa: ca } : {}),
			oauthTokenData: seededToken(idp),
			...data,
		}),
	});
	return store;
}

export interface VerifyParameters {
	/** A list, or an expression (to test what expressions may give). */
	checks?: Array<'smtp' | 'imap' | 'roundTrip'> | string;
	checkTimeout?: number;
	roundTripTimeout?: number;
	failWhenNotVerified?: boolean;
	/** More options, as given (expressions included). */
	options?: INodeParameters;
}

export async function runVerify(store: CredentialStore, p: VerifyParameters = {}) {
	const options: INodeParameters = {};
	if (p.checkTimeout !== undefined) options.checkTimeout = p.checkTimeout;
	if (p.roundTripTimeout !== undefined) options.roundTripTimeout = p.roundTripTimeout;
	if (p.failWhenNotVerified !== undefined) options.failWhenNotVerified = p.failWhenNotVerified;
	if (p.options) Object.assign(options, p.options);
	const { nodes, connections } = chain([{ json: {} }], {
		name: 'Verify',
		type: 'n8n-nodes-m365-mail.verifyMailbox',
		parameters: { checks: p.checks ?? ['smtp', 'imap'], options },
		credentials: { microsoftMailOAuth2Api: { id: 'cred-1', name: 'M365 reports' } },
	});
	const result = await runWorkflow({ nodes, connections, store });
	return {
		result,
		/** The node's single output item (throws when the node failed). */
		verification: () => result.output('Verify')[0].json,
		check: (name: string) => {
			const checks = result.output('Verify')[0].json.checks as IDataObject[];
			const found = checks.find((c) => c.name === name);
			if (!found) throw new Error(`no ${name} check in output`);
			return found;
		},
	};
}

/** Every secret a test put into the credential, to scan outputs and errors for. */
export function secretsIn(store: CredentialStore): string[] {
	const data = store.get('cred-1').data;
	const token = store.tokenData('cred-1');
	return [String(data.clientSecret), ...Object.entries(token).filter(([k]) => /token/.test(k)).map(([, v]) => String(v))].filter((s) => s.length > 8);
}

/** Delivers what an SMTP fixture accepted into an IMAP fixture's INBOX, like a mail server would. */
export function deliverInto(smtp: { messages: Array<{ raw: Buffer }> }, imap: { deliver(raw: string): unknown }): () => void {
	// By message, not by count: the SMTP fixture's reset() empties its list between tests.
	const delivered = new WeakSet<object>();
	const timer = setInterval(() => {
		for (const m of smtp.messages)
			if (!delivered.has(m)) {
				delivered.add(m);
				imap.deliver(m.raw.toString('utf8'));
			}
	}, 50);
	return () => clearInterval(timer);
}
