/** What the interop tests share: the real stack's IdP admin, tokens it issues, and a credential for the stack. */
import type { IDataObject } from 'n8n-workflow';

import { CredentialStore, credentialData } from '../support/engine';
import { IdpAdmin, mailStackConfig, stackCredentialFields } from '../stack/mailstack';

export const stack = mailStackConfig();
export const admin = new IdpAdmin(stack.idpUrl);
export const ALICE = 'alice@example.test';
export const BOB = 'bob@example.test';
export const CREDENTIAL = { id: 'cred-real', name: 'Real stack' };
const SCOPE = 'offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All';

/** Tokens the stack's IdP issued for `user`; n8n believes the access token is valid for another hour. */
export async function stackTokens(user: string, expiresIn?: number) {
	const t = await admin.issueTokens({ clientId: stack.client.clientId, user, scope: SCOPE, expiresIn });
	return { ...t, n8n_expires_at: String(Date.now() + 3600_000) };
}

/** A credential store holding one credential for alice@ on the real Postfix and Dovecot. */
export function stackStore(oauthTokenData: IDataObject, overrides: IDataObject = {}, credential = CREDENTIAL): CredentialStore {
	const s = new CredentialStore();
	s.add({
		...credential,
		type: 'microsoftMailOAuth2Api',
		data: credentialData({ ...stackCredentialFields(stack), oauthTokenData, ...overrides }),
	});
	return s;
}
