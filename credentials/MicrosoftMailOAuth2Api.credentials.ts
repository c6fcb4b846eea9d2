import type {
	ICredentialTestRequest,
	ICredentialType,
	Icon,
	INodeProperties,
} from 'n8n-workflow';

import { CLOUDS } from '../nodes/shared/constants';

/** Builds the n8n expression for a per-cloud lookup, e.g. `{"global":"https://..."}[$self["cloud"]]`. */
function perCloud(scope: string, pick: (c: (typeof CLOUDS)['global']) => string): string {
	const table = Object.fromEntries(Object.entries(CLOUDS).map(([name, c]) => [name, pick(c)]));
	return `${JSON.stringify(table)}[${scope}["cloud"] || "global"]`;
}

/** Entra v2 endpoint for the chosen cloud and tenant, unless the admin pasted one. */
export function endpointExpression(scope: string, custom: string, path: string): string {
	return `${scope}["${custom}"] ? ${scope}["${custom}"].trim() : ${perCloud(scope, (c) => c.loginHost)} + "/" + (String(${scope}["tenantId"] || "").trim()) + "${path}"`;
}

const scopeExpression =
	`={{ $self["customScopes"] ? $self["customScopes"].trim() : ($self["grantType"] === "clientCredentials" ` +
	`? ${perCloud('$self', (c) => c.appResource)} + "/.default" ` +
	`: "offline_access " + ${perCloud('$self', (c) => c.delegatedResource)} + "/SMTP.Send " + ${perCloud('$self', (c) => c.delegatedResource)} + "/IMAP.AccessAsUser.All") }}`;

export class MicrosoftMailOAuth2Api implements ICredentialType {
	name = 'microsoftMailOAuth2Api';

	extends = ['oAuth2Api'];

	displayName = 'Microsoft 365 Mail OAuth2 API';

	icon: Icon = { light: 'file:../icons/m365mail.svg', dark: 'file:../icons/m365mail.dark.svg' };

	// No #fragment: n8n appends its own query string to this URL.
	documentationUrl = 'https://www.npmjs.com/package/n8n-nodes-m365-mail';

	properties: INodeProperties[] = [
		{
			// n8n shows the OAuth Redirect URL, Grant Type, Client ID and Client Secret above this notice.
			displayName:
				'Delegated: add the OAuth Redirect URL above to the Azure app registration (Authentication > Web), fill in the fields below, then press Connect at the top and sign in as the mailbox user, or as a delegate with Full Access and Send As on a shared mailbox. n8n saves the credential on its own; afterwards the top shows Switch account and Disconnect. Run the Verify Mailbox node for the full check.',
			name: 'setupNotice',
			type: 'notice',
			default: '',
			displayOptions: { show: { grantType: ['authorizationCode'] } },
		},
		{
			displayName:
				'App-only: the tenant ID or domain and the mailbox below are required; no redirect URL is needed. When you save, n8n fetches a token with the Client ID and the secret Value above. Give the app\'s service principal the mailbox in Exchange Online (see the README), then run the Verify Mailbox node for the full check (SMTP and IMAP sign-in, with Microsoft\'s exact error).',
			name: 'setupNoticeAppOnly',
			type: 'notice',
			default: '',
			displayOptions: { show: { grantType: ['clientCredentials'] } },
		},
		{
			displayName: 'Grant Type',
			name: 'grantType',
			type: 'options',
			options: [
				{
					name: 'Authorization Code (Delegated: Sign In With Connect)',
					value: 'authorizationCode',
				},
				{
					name: 'Client Credentials (App-Only)',
					value: 'clientCredentials',
				},
			],
			default: 'authorizationCode',
		},
		{
			displayName: 'Cloud',
			name: 'cloud',
			type: 'options',
			options: [
				{ name: 'Global (Microsoft 365)', value: 'global' },
				{ name: 'US Government GCC High', value: 'usGovHigh' },
				{ name: 'US Government DoD', value: 'usGovDod' },
				{ name: 'China (21Vianet)', value: 'china' },
			],
			default: 'global',
			description: 'Sets the sign-in host, the mail scopes and the default SMTP and IMAP hosts',
		},
		{
			displayName: 'Directory (Tenant) ID',
			name: 'tenantId',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'contoso.onmicrosoft.com or 00000000-0000-0000-0000-000000000000',
			hint:
				'From the app registration\'s Overview page: the Directory (tenant) ID, or the tenant\'s domain. A single-tenant registration (as the setup guide creates) is refused on "common" and "organizations"; those work only for delegated multi-tenant apps.',
		},
		{
			displayName: 'Custom Authorization URL',
			name: 'customAuthUrl',
			type: 'string',
			default: '',
			placeholder: 'https://login.microsoftonline.com/<tenant>/oauth2/v2.0/authorize',
			description:
				'Leave empty to derive it from the cloud and tenant. Paste the "OAuth 2.0 authorization endpoint (v2)" from the app registration\'s Endpoints tab to override.',
			displayOptions: { show: { grantType: ['authorizationCode'] } },
		},
		{
			displayName: 'Custom Token URL',
			name: 'customTokenUrl',
			type: 'string',
			default: '',
			placeholder: 'https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token',
			description:
				'Leave empty to derive it from the cloud and tenant. Paste the "OAuth 2.0 token endpoint (v2)" from the Endpoints tab to override.',
		},
		{
			displayName: 'Authorization URL',
			name: 'authUrl',
			type: 'hidden',
			default: `={{ ${endpointExpression('$self', 'customAuthUrl', '/oauth2/v2.0/authorize')} }}`,
		},
		{
			displayName: 'Access Token URL',
			name: 'accessTokenUrl',
			type: 'hidden',
			default: `={{ ${endpointExpression('$self', 'customTokenUrl', '/oauth2/v2.0/token')} }}`,
		},
		{
			displayName: 'Client ID',
			name: 'clientId',
			type: 'string',
			default: '',
			required: true,
			description: 'The "Application (client) ID" from the app registration\'s Overview page',
		},
		{
			displayName: 'Client Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			hint:
				'The secret\'s Value (shown once when created), not its Secret ID. Note its expiry date: the credential stops working when it runs out.',
		},
		{
			displayName: 'Custom Scopes',
			name: 'customScopes',
			type: 'string',
			default: '',
			hint:
				'Leave empty for the defaults of the chosen cloud: delegated "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All", app-only "https://outlook.office365.com/.default". One resource per token: do not add Microsoft Graph scopes.',
		},
		{
			displayName: 'Scope',
			name: 'scope',
			type: 'hidden',
			default: scopeExpression,
		},
		{
			// As n8n's own Microsoft credentials: an admin signed in to another account is asked which one to use.
			displayName: 'Auth URI Query Parameters',
			name: 'authQueryParameters',
			type: 'hidden',
			default: 'prompt=select_account',
		},
		{
			// Neither node sends HTTP requests with this credential: no HTTP Request or GraphQL node
			// may carry its token anywhere. Declared here, n8n does not add its own field (default All).
			displayName: 'Allowed HTTP Request Domains',
			name: 'allowedHttpRequestDomains',
			type: 'hidden',
			default: 'none',
		},
		{
			displayName: 'Authentication',
			name: 'authentication',
			type: 'hidden',
			default: 'body',
		},
		{
			displayName: 'Send Additional Body Properties',
			name: 'sendAdditionalBodyProperties',
			type: 'hidden',
			default: false,
		},
		{
			displayName: 'Additional Body Properties',
			name: 'additionalBodyProperties',
			type: 'hidden',
			default: '',
		},
		{
			displayName: 'Mailbox',
			name: 'mailbox',
			type: 'string',
			placeholder: 'reports@contoso.com',
			default: '',
			required: true,
			description:
				'The mailbox to open over IMAP and the default From of Send Report Email. May be a shared mailbox: delegated, SMTP logs in as the signed-in account and sends as this mailbox (needs Send As); IMAP opens it (needs Full Access). App-only: both log in as this mailbox.',
		},
		{
			displayName: 'Signed-In Account (UPN)',
			name: 'signInAccount',
			type: 'string',
			placeholder: 'alice@contoso.onmicrosoft.com',
			default: '',
			description:
				'Delegated only, and only when the sign-in does not return the account\'s user principal name: the account that signed in with Connect. SMTP logs in as it. Leave empty to read it from the sign-in.',
			displayOptions: { show: { grantType: ['authorizationCode'] } },
		},
		{
			displayName: 'SMTP Host',
			name: 'smtpHost',
			type: 'string',
			default: '',
			placeholder: 'smtp.office365.com',
			description: "Leave empty for the cloud's SMTP AUTH endpoint",
		},
		{
			displayName: 'SMTP Security',
			name: 'smtpSecurity',
			type: 'options',
			options: [
				{ name: 'STARTTLS (Required)', value: 'starttls' },
				{ name: 'TLS (Implicit, Port 465)', value: 'tls' },
			],
			default: 'starttls',
		},
		{
			displayName: 'SMTP Port',
			name: 'smtpPort',
			type: 'number',
			default: 587,
			hint: 'With TLS (Implicit) the default 587 is used as 465; type another port to override',
		},
		{
			displayName: 'IMAP Host',
			name: 'imapHost',
			type: 'string',
			default: '',
			placeholder: 'outlook.office365.com',
			description: "Leave empty for the cloud's IMAP endpoint",
		},
		{
			displayName: 'IMAP Port',
			name: 'imapPort',
			type: 'number',
			default: 993,
		},
		{
			displayName: 'IMAP Security',
			name: 'imapSecurity',
			type: 'options',
			options: [
				{ name: 'TLS (Implicit, Port 993)', value: 'tls' },
				{ name: 'STARTTLS (Required, Port 143)', value: 'starttls' },
			],
			default: 'tls',
			description: 'Microsoft 365 uses implicit TLS on 993. STARTTLS is for relays and on-premises servers on port 143; the connection fails unless the server upgrades to TLS.',
		},
		{
			displayName: 'Default Reply-To',
			name: 'replyTo',
			type: 'string',
			default: '',
			placeholder: 'helpdesk@contoso.com',
			description: 'Used by Send Report Email unless the node sets its own',
		},
		{
			displayName: 'Signature (HTML)',
			name: 'signature',
			type: 'string',
			typeOptions: { rows: 4 },
			default: '',
			description:
				'Appended to every report email unless the node turns it off or overrides it. A plain-text version is derived for text bodies.',
		},
		// A switch, not a secret: the linter only sees "Cert" in its name.
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{
			displayName: 'Allow Self-Signed or Untrusted Certificates',
			name: 'allowUnauthorizedCerts',
			type: 'boolean',
			default: false,
			description:
				'Whether to accept SMTP and IMAP server certificates that do not verify. Only for test servers and on-premises relays; never needed for Microsoft 365.',
		},
		{
			displayName: 'Trusted CA Certificate (PEM)',
			name: 'customCa',
			type: 'string',
			typeOptions: { rows: 4 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			description:
				'Extra certificate authority to trust for SMTP and IMAP (for a relay with a private CA). Certificates are still verified.',
		},
	];

	// App-only: n8n fetches a token with the client-credentials grant before this request runs, so a
	// saved credential proves the token is issued. The request itself is harmless (the tenant's OpenID
	// configuration). Verify Mailbox is the full check for both grant types.
	test: ICredentialTestRequest = {
		request: {
			method: 'GET',
			url: `={{ (${endpointExpression('$credentials', 'customTokenUrl', '/oauth2/v2.0/token')}).replace(/\\/oauth2\\/v2\\.0\\/token$/, "/v2.0/.well-known/openid-configuration") }}`,
		},
	};
}
