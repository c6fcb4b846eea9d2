/**
 * An embedded Microsoft 365 stand-in: the Entra-like identity provider, an SMTP submission server
 * and an IMAP server, all in this process, with mail accepted over SMTP delivered into the IMAP
 * mailbox. The credential is connected the way n8n's "Connect my account" does it: authorize ->
 * code -> token exchange. Used by `npm run demo` and by the tests that run the example workflows.
 */
import type { ICredentialDataDecryptedObject, IDataObject } from 'n8n-workflow';

import { startIdp, type Idp } from '../stack/idp';
import { CredentialStore, credentialData } from './engine';
import { startImapServer, type ImapServer } from './imap-server';
import { startSmtpServer, type SmtpFixture } from './smtp-server';

export const SANDBOX_MAILBOX = 'reports@example.test';
export const SANDBOX_CLIENT = { clientId: 'sandbox-app', clientSecret: 'sandbox-secret-value' };
/** The credential id the example workflows reference. */
export const EXAMPLE_CREDENTIAL_ID = 'm365MailCred01';
const REDIRECT_URI = 'http://127.0.0.1:5678/rest/oauth2-credential/callback';
const SCOPE = 'offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All';

export interface Sandbox {
	idp: Idp;
	smtp: SmtpFixture;
	imap: ImapServer;
	store: CredentialStore;
	credential: ICredentialDataDecryptedObject;
	stop(): Promise<void>;
}

/** "Connect my account" against the sandbox IdP: follow authorize, exchange the code. */
async function connectAccount(idp: Idp, user: string): Promise<IDataObject> {
	const authorize = new URL(idp.authorizeUrl());
	authorize.search = new URLSearchParams({
		client_id: SANDBOX_CLIENT.clientId,
		response_type: 'code',
		redirect_uri: REDIRECT_URI,
		scope: SCOPE,
		state: 'sandbox',
		login_hint: user,
	}).toString();
	const res = await fetch(authorize, { redirect: 'manual' });
	const location = res.headers.get('location');
	const code = location ? new URL(location).searchParams.get('code') : null;
	if (!code) throw new Error(`sandbox identity provider did not redirect with a code (HTTP ${res.status})`);
	const token = await fetch(idp.tokenUrl(), {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded' },
		body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, ...{ client_id: SANDBOX_CLIENT.clientId, client_secret: SANDBOX_CLIENT.clientSecret } }),
	});
	const data = (await token.json()) as IDataObject;
	if (!token.ok) throw new Error(`sandbox token exchange failed: HTTP ${token.status}`);
	// what n8n adds when it stores the token
	return { ...data, n8n_expires_at: String(Date.now() + Number(data.expires_in) * 1000) };
}

export async function startSandbox(): Promise<Sandbox> {
	const idp = await startIdp();
	idp.addClient({ ...SANDBOX_CLIENT, redirectUris: [REDIRECT_URI] });
	const smtp = await startSmtpServer({ idp });
	const imap = await startImapServer({ idp, mailbox: SANDBOX_MAILBOX });
	const timer = setInterval(() => {
		while (delivered < smtp.messages.length) {
			const m = smtp.messages[delivered++];
			if (m.envelope.rcptTo.some((r) => r.toLowerCase() === SANDBOX_MAILBOX)) imap.deliver(m.raw.toString('utf8'));
		}
	}, 25);
	let delivered = 0;
	const credential = credentialData({
		clientId: SANDBOX_CLIENT.clientId,
		clientSecret: SANDBOX_CLIENT.clientSecret,
		customAuthUrl: idp.authorizeUrl(),
		customTokenUrl: idp.tokenUrl(),
		mailbox: SANDBOX_MAILBOX,
		smtpHost: smtp.host,
		smtpPort: smtp.port,
		imapHost: imap.host,
		imapPort: imap.port,
		customCa: `${smtp.ca}\n${imap.ca}`,
		replyTo: 'helpdesk@example.test',
		signature: '<p>Contoso IT Services · Service Desk · +1 555 0100</p>',
		oauthTokenData: await connectAccount(idp, SANDBOX_MAILBOX),
	});
	const store = new CredentialStore();
	store.add({ id: EXAMPLE_CREDENTIAL_ID, name: 'Microsoft 365 Mail (sandbox)', type: 'microsoftMailOAuth2Api', data: credential });
	return {
		idp,
		smtp,
		imap,
		store,
		credential,
		async stop() {
			clearInterval(timer);
			await Promise.all([smtp.stop(), imap.stop(), idp.stop()]);
		},
	};
}
