/**
 * One catalogue of everything Microsoft 365 (or a test server standing in for it) can refuse:
 * Entra ID token errors (AADSTS codes), SMTP replies, IMAP failures and network faults. Each maps
 * to a stable code, a short message and a hint that says what to do. Pure functions only.
 */

export type FailureSource = 'token' | 'smtp' | 'imap' | 'network' | 'input';

export interface MailFailure {
	source: FailureSource;
	/** Stable, searchable code, e.g. `AADSTS7000222`, `SMTP_AUTH_DISABLED`. */
	code: string;
	message: string;
	hint: string;
	/** Worth retrying later: the same request may succeed (throttling, outage). */
	retryable: boolean;
	/** The server may have accepted the message before the failure: do not resend blindly. */
	outcomeUnknown?: boolean;
	/** Server's own words (already free of secrets), when it said anything. */
	serverResponse?: string;
	/** How long the server asked to wait before trying again (`Retry-After`). */
	retryAfterMs?: number;
}

const APP_REGISTRATION = 'Azure portal > Microsoft Entra ID > App registrations > your app';

interface CatalogueEntry {
	code: string;
	message: string;
	hint: string;
	retryable?: boolean;
}

/** Entra ID sign-in errors that a mail credential runs into, by AADSTS number. */
export const AADSTS: Record<number, CatalogueEntry> = {
	7000215: {
		code: 'AADSTS7000215',
		message: 'The client secret is wrong.',
		hint: `Paste the secret's Value into the credential, not its Secret ID (${APP_REGISTRATION} > Certificates & secrets). If the Value is lost, create a new secret.`,
	},
	7000222: {
		code: 'AADSTS7000222',
		message: 'The client secret has expired.',
		hint: `Create a new client secret (${APP_REGISTRATION} > Certificates & secrets > New client secret), paste its Value into the credential, and note the new expiry date.`,
	},
	65001: {
		code: 'AADSTS65001',
		message: 'The app has not been granted consent for the mail permissions.',
		hint: `Grant admin consent (${APP_REGISTRATION} > API permissions > Grant admin consent), then reconnect the credential.`,
	},
	50076: {
		code: 'AADSTS50076',
		message: 'Multi-factor authentication is required for this sign-in.',
		hint: 'Open the credential, press "Switch account" (or "Connect") and complete the MFA prompt. If it keeps asking, ask the admin to review the Conditional Access policy for this app.',
	},
	50079: {
		code: 'AADSTS50079',
		message: 'The account must register for multi-factor authentication.',
		hint: 'Sign in to https://aka.ms/mfasetup with the mailbox account, register MFA, then reconnect the credential.',
	},
	700016: {
		code: 'AADSTS700016',
		message: 'The application was not found in this tenant.',
		hint: `Check the Client ID (${APP_REGISTRATION} > Overview > Application (client) ID) and the Directory (tenant) ID; for a multi-tenant app, an admin of the mailbox's tenant must consent to it first.`,
	},
	50011: {
		code: 'AADSTS50011',
		message: "The redirect URI does not match the app registration.",
		hint: `Add the OAuth Redirect URL shown in the n8n credential to ${APP_REGISTRATION} > Authentication > Web > Redirect URIs, exactly as shown.`,
	},
	70008: {
		code: 'AADSTS70008',
		message: 'The refresh token has expired (unused for 90 days) or was revoked.',
		hint: 'Open the credential and press "Switch account" (or "Connect" if it shows that) and sign in again.',
	},
	700082: {
		code: 'AADSTS700082',
		message: 'The refresh token has expired because it was not used for 90 days.',
		hint: 'Open the credential and press "Switch account" (or "Connect" if it shows that) and sign in again. Scheduled workflows keep it alive if they run at least every few weeks.',
	},
	90002: {
		code: 'AADSTS90002',
		message: 'The tenant was not found.',
		hint: 'Check the Directory (tenant) ID, and that the Cloud setting matches the tenant (Global, GCC High, DoD or China use different sign-in hosts).',
	},
	53003: {
		code: 'AADSTS53003',
		message: 'Access was blocked by a Conditional Access policy.',
		hint: 'Ask the Entra ID admin to allow this app and the n8n server (location, device or client app conditions) in Conditional Access, or exclude the mailbox account.',
	},
	530035: {
		code: 'AADSTS530035',
		message: 'Access was blocked by security defaults.',
		hint: 'Security defaults block this sign-in. The admin can switch to Conditional Access policies (Entra ID > Properties > Manage security defaults) or use the app-only (Client Credentials) grant.',
	},
	50020: {
		code: 'AADSTS50020',
		message: 'The account signed in is not from this tenant.',
		hint: "Sign in with an account of the mailbox's tenant (a delegate with Full Access and Send As on a shared mailbox is fine), or check the Directory (tenant) ID.",
	},
	1002012: {
		code: 'AADSTS1002012',
		message: 'The scope is not valid for the client-credentials grant.',
		hint: 'App-only tokens need a scope ending in /.default, e.g. https://outlook.office365.com/.default. Clear Custom Scopes to use the default.',
	},
	70011: {
		code: 'AADSTS70011',
		message: 'The requested scope is not valid.',
		hint: 'A scope in Custom Scopes is misspelt or unknown to Entra ID: clear Custom Scopes to use the defaults of the chosen cloud.',
	},
	28000: {
		code: 'AADSTS28000',
		message: 'The scopes name more than one resource; a token is for one resource only.',
		hint: 'Clear Custom Scopes to use the defaults; do not mix Microsoft Graph (User.Read, Mail.Send) and Outlook (https://outlook.office.com/...) scopes in one credential.',
	},
	700022: {
		code: 'AADSTS700022',
		message: 'The scopes name more than one resource; a token is for one resource only.',
		hint: 'Clear Custom Scopes to use the defaults; do not mix Microsoft Graph (User.Read, Mail.Send) and Outlook (https://outlook.office.com/...) scopes in one credential.',
	},
	50194: {
		code: 'AADSTS50194',
		message: 'The app registration is single-tenant, so it cannot sign in on the "common" or "organizations" endpoint.',
		hint: "Enter your Directory (tenant) ID (a GUID from the app registration's Overview page, or the tenant's domain such as contoso.onmicrosoft.com) in the credential, then reconnect.",
	},
	500011: {
		code: 'AADSTS500011',
		message: 'The mail resource was not found in this tenant (wrong cloud or wrong resource in the scopes).',
		hint: 'Check that the Cloud setting matches the tenant (Global, GCC High, DoD or China use different resources), clear Custom Scopes, and check the Directory (tenant) ID. App-only: the Office 365 Exchange Online permissions must be consented in this tenant.',
	},
	650057: {
		code: 'AADSTS650057',
		message: "The scopes ask for a resource that is not among the app registration's API permissions.",
		hint: `Add the mail permissions under ${APP_REGISTRATION} > API permissions > Add a permission > APIs my organization uses > Office 365 Exchange Online (delegated SMTP.Send and IMAP.AccessAsUser.All, or application SMTP.SendAsApp and IMAP.AccessAsApp), grant admin consent, and clear Custom Scopes.`,
	},
	7000218: {
		code: 'AADSTS7000218',
		message: 'No client secret was sent to Microsoft.',
		hint: `Paste the client secret's Value into the credential's Client Secret field (${APP_REGISTRATION} > Certificates & secrets). A registration marked "Allow public client flows" still needs a secret for this credential.`,
	},
	70043: {
		code: 'AADSTS70043',
		message: "The refresh token is no longer accepted because of a Conditional Access sign-in frequency policy.",
		hint: 'Open the credential, press "Switch account" (or "Connect") and sign in again. To keep unattended workflows running, ask the Entra ID admin to exclude this app from the sign-in frequency policy, or use the app-only (Client Credentials) grant.',
	},
	50105: {
		code: 'AADSTS50105',
		message: 'The signed-in account is not assigned to this app.',
		hint: 'The app requires user assignment: an admin adds the account (or a group it is in) under Entra ID > Enterprise applications > your app > Users and groups, or turns off "Assignment required".',
	},
	50057: {
		code: 'AADSTS50057',
		message: 'The account that signed in is disabled.',
		hint: 'A shared mailbox has a disabled account and cannot sign in: sign in as a user with Full Access and Send As on it (its Mailbox stays the shared address). Otherwise ask the admin to enable the account.',
	},
	50055: {
		code: 'AADSTS50055',
		message: "The account's password has expired.",
		hint: 'Sign in to https://myaccount.microsoft.com with the account, change the password, then press "Switch account" (or "Connect") and sign in again.',
	},
	50053: {
		code: 'AADSTS50053',
		message: 'The account is locked (too many failed sign-ins, or sign-ins from a blocked IP address).',
		hint: 'Wait for the lock to expire or ask the admin to unlock the account, then press "Switch account" (or "Connect") and sign in again.',
	},
	65004: {
		code: 'AADSTS65004',
		message: 'Consent was declined at sign-in.',
		hint: 'Open the credential, press "Switch account" (or "Connect") and sign in again and accept the permissions, or ask an admin to grant admin consent for the app (API permissions > Grant admin consent).',
	},
	90094: {
		code: 'AADSTS90094',
		message: 'An administrator must consent to the permissions this app asks for.',
		hint: `Ask a Global or Privileged Role administrator to grant admin consent (${APP_REGISTRATION} > API permissions > Grant admin consent), then reconnect.`,
	},
	7000112: {
		code: 'AADSTS7000112',
		message: 'The app is disabled in this tenant.',
		hint: 'An admin enables it under Entra ID > Enterprise applications > your app > Properties > "Enabled for users to sign in?".',
	},
	9001023: {
		code: 'AADSTS9001023',
		message: 'This sign-in is not supported on the "common" endpoint.',
		hint: "Enter your Directory (tenant) ID (a GUID or the tenant's domain) in the credential instead of common.",
	},
	90130: {
		code: 'AADSTS90130',
		message: 'This app is not supported on the "common" endpoint.',
		hint: "Enter your Directory (tenant) ID (a GUID or the tenant's domain) in the credential instead of common.",
	},
	50034: {
		code: 'AADSTS50034',
		message: 'The account that signed in does not exist in this tenant.',
		hint: "Sign in with an account of the mailbox's tenant (check for a typo), or check the Directory (tenant) ID.",
	},
	50196: {
		code: 'AADSTS50196',
		message: 'The Microsoft sign-in service is throttling this app (too many requests in a short time).',
		hint: 'This is temporary and nothing was sent. Run the workflow later or less often; the node waits for Retry-After when it is short.',
		retryable: true,
	},
	50126: {
		code: 'AADSTS50126',
		message: 'The user name or password is wrong.',
		hint: 'Reconnect the credential and sign in with the correct account.',
	},
	50173: {
		code: 'AADSTS50173',
		message: 'The grant expired because the password changed or sessions were revoked.',
		hint: 'Open the credential and press "Switch account" (or "Connect" if it shows that) and sign in again.',
	},
};

export const TOKEN_FAILURES: Record<string, CatalogueEntry> = {
	notConnected: {
		code: 'NOT_CONNECTED',
		message: 'The credential is not connected to a Microsoft account yet.',
		hint: 'Open the Microsoft 365 Mail OAuth2 API credential, press "Connect" at the top and sign in; n8n saves the credential on its own.',
	},
	invalidGrant: {
		code: 'INVALID_GRANT',
		message: 'Microsoft no longer accepts the stored sign-in (invalid_grant): the refresh token expired or was revoked, the password or permissions changed, or a policy now asks for more (MFA, Conditional Access, admin consent).',
		hint: 'Open the credential and press "Switch account" (or "Connect" if it shows that) and sign in again; the sign-in page shows what Microsoft needs (MFA, consent). If it keeps failing, Entra ID > Monitoring > Sign-in logs names the AADSTS code for this app.',
	},
	invalidClient: {
		code: 'INVALID_CLIENT',
		message: 'Microsoft did not accept the app (client ID or secret).',
		hint: `Check the Client ID and the secret Value in ${APP_REGISTRATION}.`,
	},
	noRefreshToken: {
		code: 'NO_REFRESH_TOKEN',
		message: 'The access token expired and no refresh token was stored.',
		hint: 'Make sure the scopes include offline_access (clear Custom Scopes to use the defaults), then open the credential and press "Switch account" (or "Connect" if it shows that) and sign in again.',
	},
	unavailable: {
		code: 'TOKEN_ENDPOINT_UNAVAILABLE',
		message: 'The Microsoft sign-in service could not be reached or failed.',
		hint: 'Check that the n8n server can reach the token URL (proxy, firewall, DNS). Nothing was sent; the next run will try again.',
		retryable: true,
	},
	throttled: {
		code: 'TOKEN_THROTTLED',
		message: 'The Microsoft sign-in service is throttling requests (HTTP 429): a temporary refusal, not a setup problem.',
		hint: 'Nothing was sent. Run the workflow again later; the node already waited for Retry-After where it was short. If it keeps happening, fewer workflows should share this credential at the same moment.',
		retryable: true,
	},
	timeout: {
		code: 'TOKEN_ENDPOINT_TIMEOUT',
		message: 'The Microsoft sign-in service did not answer in time.',
		hint: 'Nothing was sent; the next run will try again. If it persists, check the network path to the token URL.',
		retryable: true,
	},
};

/** Reads `AADSTS7000222` style numbers out of an Entra error body or text. */
export function aadstsCodes(body: unknown): number[] {
	const codes = new Set<number>();
	if (body && typeof body === 'object') {
		const list = (body as { error_codes?: unknown }).error_codes;
		if (Array.isArray(list)) for (const c of list) if (typeof c === 'number') codes.add(c);
	}
	const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
	for (const m of text.matchAll(/AADSTS(\d{4,7})/g)) codes.add(Number(m[1]));
	return [...codes];
}

/** First line of an Entra `error_description`, without trace and correlation IDs. */
function firstLine(text: string): string {
	return text.split(/\r?\n/)[0].trim();
}

/** A `Retry-After` header (seconds or an HTTP date) in milliseconds from `now`, if it says anything. */
export function retryAfterMs(header: unknown, now = Date.now()): number | undefined {
	const value = Array.isArray(header) ? header[0] : header;
	if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
	if (typeof value !== 'string' || !value.trim()) return undefined;
	if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
	const at = Date.parse(value);
	return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function describeTokenError(input: {
	status?: number;
	body?: unknown;
	text?: string;
	networkCode?: string;
	/** From the `Retry-After` header, when the sign-in service sent one. */
	retryAfterMs?: number;
}): MailFailure {
	const failure = describeTokenRefusal(input);
	if (!failure.retryable || input.retryAfterMs === undefined) return failure;
	const seconds = Math.ceil(input.retryAfterMs / 1000);
	return { ...failure, retryAfterMs: input.retryAfterMs, message: `${failure.message} Microsoft asked to wait ${seconds} s (Retry-After).` };
}

function describeTokenRefusal(input: { status?: number; body?: unknown; text?: string; networkCode?: string }): MailFailure {
	const codes = aadstsCodes(input.body ?? input.text ?? '');
	const description =
		input.body && typeof input.body === 'object'
			? String((input.body as { error_description?: unknown }).error_description ?? '')
			: String(input.body ?? input.text ?? '');
	const serverResponse = description ? firstLine(description) : undefined;
	for (const code of codes) {
		const entry = AADSTS[code];
		if (entry) return { source: 'token', retryable: false, ...entry, serverResponse };
	}
	const error =
		input.body && typeof input.body === 'object'
			? String((input.body as { error?: unknown }).error ?? '')
			: '';
	const fallback = (entry: CatalogueEntry): MailFailure => ({
		source: 'token',
		retryable: entry.retryable ?? false,
		...entry,
		serverResponse,
	});
	if (input.status === 429) return fallback(TOKEN_FAILURES.throttled);
	if (input.networkCode === 'ETIMEDOUT' || input.networkCode === 'ECONNABORTED')
		return fallback(TOKEN_FAILURES.timeout);
	if (input.networkCode || (input.status !== undefined && input.status >= 500))
		return fallback(TOKEN_FAILURES.unavailable);
	if (error === 'invalid_grant' || error === 'interaction_required')
		return fallback(TOKEN_FAILURES.invalidGrant);
	if (error === 'invalid_client' || error === 'unauthorized_client')
		return fallback(TOKEN_FAILURES.invalidClient);
	return {
		source: 'token',
		code: error ? `TOKEN_${error.toUpperCase()}` : 'TOKEN_ERROR',
		message: serverResponse
			? `Microsoft refused the token request: ${serverResponse}`
			: 'Microsoft refused the token request.',
		hint: `Check the credential's tenant, client ID, secret and scopes against ${APP_REGISTRATION}.`,
		retryable: false,
		serverResponse,
	};
}

/* ----------------------------------------------------------------------------------------- SMTP */

interface SmtpRule {
	test: (reply: { code: number; enhanced: string; text: string }) => boolean;
	entry: CatalogueEntry;
}

const SEND_AS_FIX = 'Add-RecipientPermission -Identity <From address> -Trustee <signed-in account> -AccessRights SendAs';

const SMTP_RULES: SmtpRule[] = [
	{
		// Conditional Access / MFA, not the SMTP AUTH switch (uptime-kuma #1713, MailKit #1733).
		test: (r) => r.enhanced === '5.7.139' && /did not meet the criteria/i.test(r.text),
		entry: {
			code: 'SMTP_AUTH_CONDITIONAL_ACCESS',
			message: 'A Conditional Access (or MFA) policy blocked the SMTP sign-in.',
			hint: 'SMTP AUTH cannot answer an MFA prompt. Ask the Entra ID admin to exclude this app or account from the policy that blocks it (Entra ID > Sign-in logs shows which one), or use the app-only (Client Credentials) grant.',
		},
	},
	{
		test: (r) => r.enhanced === '5.7.139' && /security defaults/i.test(r.text),
		entry: {
			code: 'SMTP_AUTH_SECURITY_DEFAULTS',
			message: "The sign-in was blocked by the tenant's security defaults.",
			hint: 'Security defaults block SMTP AUTH. The admin can turn them off in favour of Conditional Access (Entra ID > Properties > Manage security defaults).',
		},
	},
	{
		test: (r) => r.enhanced === '5.7.139' && /tenant/i.test(r.text),
		entry: {
			code: 'SMTP_AUTH_DISABLED_TENANT',
			message: 'SMTP AUTH is turned off for the tenant, and not turned on for this mailbox.',
			hint: 'The mailbox setting takes precedence over the tenant\'s: in Exchange Online PowerShell run Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false for this one mailbox. Only to turn it on for every mailbox: Set-TransportConfig -SmtpClientAuthenticationDisabled $false. Changes can take an hour to apply.',
		},
	},
	{
		test: (r) => r.enhanced === '5.7.139',
		entry: {
			code: 'SMTP_AUTH_DISABLED',
			message: 'SMTP AUTH is turned off for this mailbox (or the tenant).',
			hint: 'In Exchange Online PowerShell run: Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false. If the tenant switch is off too: Set-TransportConfig -SmtpClientAuthenticationDisabled $false. Changes can take an hour to apply.',
		},
	},
	{
		test: (r) => r.enhanced === '5.7.30' || /Basic authentication is not supported/i.test(r.text),
		entry: {
			code: 'SMTP_BASIC_AUTH_RETIRED',
			message: 'The server refused a password (Basic) login: Exchange Online accepts only OAuth for client submission.',
			hint: 'This node logs in with OAuth (XOAUTH2); if a proxy or relay in between logs in with a password, point the SMTP Host at Exchange Online directly (smtp.office365.com), or update that relay to OAuth.',
		},
	},
	{
		test: (r) => r.code === 535 || r.code === 534 || r.code === 530,
		entry: {
			code: 'SMTP_AUTH_REJECTED',
			message: 'The SMTP server rejected the OAuth sign-in.',
			hint: "Delegated: SMTP logs in as the signed-in account (its UPN), never as a shared mailbox; that account needs SMTP.Send consented and SMTP AUTH allowed. App-only: register the app's service principal in Exchange (New-ServicePrincipal) and grant it Add-MailboxPermission on the mailbox. Then run Verify Mailbox.",
		},
	},
	{
		// Restricted entities (Defender portal): blocked for sending spam, not a Send As problem.
		test: (r) => ['5.1.8', '5.7.501', '5.7.502', '5.7.503'].includes(r.enhanced) || /bad outbound sender|spam abuse|banned sender/i.test(r.text),
		entry: {
			code: 'SMTP_SENDER_BLOCKED',
			message: 'Exchange Online has blocked this account from sending (it was flagged for sending spam).',
			hint: 'An admin releases it in the Microsoft Defender portal > Email & collaboration > Review > Restricted entities, after checking the account is not compromised (reset its password, review inbox rules and sign-ins). Until then nothing can be sent from it.',
		},
	},
	{
		test: (r) => /OutboundSpamException|RefuseQuota|HipNotify/i.test(r.text) || (r.enhanced === '5.2.0' && /Suspend/i.test(r.text)),
		entry: {
			code: 'SMTP_OUTBOUND_SPAM',
			message: "Exchange Online's outbound spam filter refused the message (the mailbox is over an outbound spam limit or suspended).",
			hint: 'Check the outbound spam policy and Restricted entities in the Microsoft Defender portal; lower the volume or use a distribution list. This is not the daily recipient limit.',
		},
	},
	{
		test: (r) => /QuotaExceededException|mailbox full/i.test(r.text) && !/SubmissionQuotaExceeded/i.test(r.text),
		entry: {
			code: 'SMTP_MAILBOX_FULL',
			message: 'The sending mailbox is full: Exchange keeps a copy of every SMTP submission in Sent Items and cannot save it.',
			hint: 'Empty Sent Items and Deleted Items of the sending mailbox (or raise its quota / enable an archive) in the Exchange admin center, then send again.',
		},
	},
	{
		test: (r) => r.enhanced === '5.7.60' || /SendAsDenied|not allowed to send as|permissions to send as/i.test(r.text),
		entry: {
			code: 'SMTP_SEND_AS_DENIED',
			message: 'The signed-in account is not allowed to send as the From address.',
			hint: `Grant it in Exchange Online PowerShell: ${SEND_AS_FIX} (app-only: the service principal as trustee), or leave From empty to send as the Mailbox. Permissions take up to an hour to apply.`,
		},
	},
	{
		test: (r) => r.code === 553 || (r.code === 550 && /sender|owned/i.test(r.text)),
		entry: {
			code: 'SMTP_SEND_AS_DENIED',
			message: 'The server refused the From address for the signed-in account.',
			hint: `Grant Send As on the From address: ${SEND_AS_FIX}, or use the Mailbox as From.`,
		},
	},
	{
		test: (r) => /SubmissionQuotaExceeded/i.test(r.text) || (r.enhanced === '5.2.0' && /recipient (rate )?limit/i.test(r.text)),
		entry: {
			code: 'SMTP_DAILY_QUOTA',
			message: 'The mailbox has reached its daily recipient limit (10,000 recipients in 24 hours).',
			hint: 'Wait until the 24-hour window frees up, send to fewer recipients (use a distribution list), or spread reports across mailboxes. Nothing more can be sent from this mailbox until then.',
		},
	},
	{
		test: (r) => r.code === 554 && r.enhanced === '5.2.0',
		entry: {
			code: 'SMTP_SUBMISSION_FAILED',
			message: 'Exchange Online could not accept the message (554 5.2.0).',
			hint: 'A mailbox or store problem on Microsoft\'s side; the server response names it. Check the mailbox in the Exchange admin center and try again later.',
		},
	},
	{
		test: (r) => r.enhanced === '4.5.3' || (r.code === 452 && /too many recipients/i.test(r.text)),
		entry: {
			code: 'SMTP_TOO_MANY_RECIPIENTS',
			message: 'The server refused the number of recipients of this message.',
			hint: 'Sending the same message again cannot help: split the recipients over several messages, or send to a distribution list.',
		},
	},
	{
		test: (r) => r.code === 432 || r.enhanced === '4.3.2',
		entry: {
			code: 'SMTP_TOO_MANY_CONNECTIONS',
			message: 'Too many concurrent connections to this mailbox (Exchange allows 3).',
			hint: 'Run fewer report workflows at the same time for this mailbox; the node already limits itself to 3 connections per execution.',
			retryable: true,
		},
	},
	{
		test: (r) => r.enhanced === '4.7.66' || /TLS version|TLS 1\.[01]/i.test(r.text),
		entry: {
			code: 'SMTP_TLS_TOO_OLD',
			message: 'The server refused the TLS version (Exchange Online needs TLS 1.2 or newer).',
			hint: 'Check that no proxy or Node option (e.g. --tls-max-v1.1 or NODE_OPTIONS) limits TLS to 1.0/1.1 on the n8n server.',
		},
	},
	{
		test: (r) => r.code === 552 || r.enhanced === '5.3.4' || r.enhanced === '5.2.3',
		entry: {
			code: 'SMTP_MESSAGE_TOO_LARGE',
			message: 'The message is larger than the server accepts.',
			hint: 'Attach fewer or smaller files (Exchange Online accepts 35 MB by default, counted after encoding), or share large files by link.',
		},
	},
	{
		test: (r) =>
			(r.code === 550 || r.code === 501 || r.code === 553) &&
			/^5\.1\.\d$/.test(r.enhanced),
		entry: {
			code: 'SMTP_RECIPIENT_REJECTED',
			message: 'The server rejected a recipient address.',
			hint: 'Check the To, CC and BCC addresses for typos; the rejected address is named in the server response.',
		},
	},
	{
		test: (r) => r.code === 421 || r.code === 451 || r.code === 452 || r.code === 450,
		entry: {
			code: 'SMTP_TEMPORARY_FAILURE',
			message: 'The server is busy or temporarily refused the message.',
			hint: 'The node retried with backoff; if this persists, Exchange Online is throttling the mailbox: send less often or spread the load.',
			retryable: true,
		},
	},
];

/** Shape of the errors nodemailer raises (properties it sets on Error objects). */
export interface SmtpErrorLike {
	message: string;
	code?: string;
	responseCode?: number;
	response?: string;
	command?: string;
}

/** Structural: socket errors can come from another realm (Node core, test sandboxes), where `instanceof Error` fails. */
export function isSmtpErrorLike(e: unknown): e is SmtpErrorLike {
	return typeof e === 'object' && e !== null && typeof Reflect.get(e, 'message') === 'string';
}

const NETWORK_CODES: Record<string, CatalogueEntry> = {
	ECONNREFUSED: {
		code: 'CONNECTION_REFUSED',
		message: 'The server refused the connection.',
		hint: 'Check the host and port in the credential (Microsoft 365: smtp.office365.com:587, outlook.office365.com:993) and that outbound traffic on that port is allowed from the n8n server.',
		retryable: true,
	},
	ETIMEDOUT: {
		code: 'TIMEOUT',
		message: 'The server did not answer in time.',
		hint: 'Check that the n8n server can reach the host and port (firewall, proxy); the next run will try again.',
		retryable: true,
	},
	ENOTFOUND: {
		code: 'HOST_NOT_FOUND',
		message: 'The host name could not be resolved.',
		hint: 'Check the host in the credential (leave it empty to use the Microsoft 365 default) and the DNS of the n8n server.',
	},
	TLS_MISMATCH: {
		code: 'TLS_PORT_MISMATCH',
		message: 'Implicit TLS was tried, but the server on this port speaks plain text first (a STARTTLS port).',
		hint: 'Set the Security option to STARTTLS for this port, or use the implicit-TLS port (SMTP 465, IMAP 993). This is not a certificate problem.',
	},
	ETLS: {
		code: 'TLS_FAILED',
		message: 'The TLS handshake failed or the certificate did not verify.',
		hint: 'Microsoft 365 certificates always verify: check for a proxy that intercepts TLS. For your own relay, add its CA under Trusted CA Certificate in the credential.',
	},
	ECONNRESET: {
		code: 'CONNECTION_RESET',
		message: 'The server closed the connection unexpectedly.',
		hint: 'Usually transient; the next run will try again. If it keeps happening, check for a proxy or firewall cutting the connection.',
		retryable: true,
	},
};

/** Server text kept for matching and display: a reply line is at most 512 characters (RFC 5321), a few lines more than enough. */
const MAX_SERVER_TEXT = 4000;

export function networkFailure(source: FailureSource, code: string, fullText: string): MailFailure | undefined {
	const text = fullText.slice(0, MAX_SERVER_TEXT);
	// nodemailer reports socket faults as ESOCKET, with the system code only in the text.
	let entry = NETWORK_CODES[code] ?? NETWORK_CODES[/\b(ECONNREFUSED|ETIMEDOUT|ENOTFOUND|ECONNRESET)\b/.exec(text)?.[1] ?? ''];
	// OpenSSL's words for a plain-text answer to a ClientHello: implicit TLS on a STARTTLS port.
	if (!entry && /wrong version number|WRONG_VERSION_NUMBER|packet length too long|http request/i.test(text)) entry = NETWORK_CODES.TLS_MISMATCH;
	if (!entry && /certificate|self[- ]signed|altnames|SSL|TLS/i.test(text)) entry = NETWORK_CODES.ETLS;
	if (!entry && /timed? ?out|timeout/i.test(text)) entry = NETWORK_CODES.ETIMEDOUT;
	// imapflow names a hang-up ClosedAfterConnectTLS/Text ("Unexpected close") or NoConnection.
	if (!entry && /^(ClosedAfterConnect(TLS|Text)|NoConnection)$/.test(code)) entry = NETWORK_CODES.ECONNRESET;
	if (!entry && /ECONNRESET|closed unexpectedly|socket hang up|Connection closed|Unexpected close/i.test(text))
		entry = NETWORK_CODES.ECONNRESET;
	if (!entry) return undefined;
	return { source, retryable: entry.retryable ?? false, ...entry, serverResponse: text };
}

export function parseSmtpReply(response: string | undefined, responseCode?: number) {
	const text = (response ?? '').slice(0, MAX_SERVER_TEXT).trim();
	const code = responseCode ?? Number(/^(\d{3})/.exec(text)?.[1] ?? 0);
	const enhanced = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(text)?.[1] ?? '';
	return { code, enhanced, text };
}

export function describeSmtpError(error: SmtpErrorLike): MailFailure {
	const reply = parseSmtpReply(error.response, error.responseCode);
	if (reply.code) {
		const rule = SMTP_RULES.find((r) => r.test(reply));
		const entry: CatalogueEntry = rule?.entry ?? {
			code: `SMTP_${reply.code}`,
			message: `The SMTP server refused: ${reply.text}`,
			hint: 'See the server response for the reason.',
			retryable: reply.code >= 400 && reply.code < 500,
		};
		return {
			source: 'smtp',
			retryable: entry.retryable ?? false,
			...entry,
			serverResponse: reply.text,
		};
	}
	const net = networkFailure('smtp', error.code ?? '', `${error.code ?? ''} ${error.message}`);
	if (net) return net;
	return {
		source: 'smtp',
		code: error.code ? `SMTP_${error.code}` : 'SMTP_ERROR',
		message: error.message,
		hint: 'Check the SMTP settings in the credential and run Verify Mailbox.',
		retryable: false,
		serverResponse: error.message,
	};
}

/* ----------------------------------------------------------------------------------------- IMAP */

export interface ImapErrorLike {
	message: string;
	code?: string;
	authenticationFailed?: boolean;
	serverResponseCode?: string;
	responseText?: string;
	response?: string;
}

export function describeImapError(error: ImapErrorLike): MailFailure {
	const text = [error.responseText, error.response, error.message].filter(Boolean).join(' ').slice(0, MAX_SERVER_TEXT);
	if (/authenticated but not connected/i.test(text)) {
		return {
			source: 'imap',
			code: 'IMAP_NOT_CONNECTED',
			message: 'Microsoft accepted the token but could not open the mailbox ("User is authenticated but not connected").',
			hint: 'The token is valid but not for this mailbox: check the Mailbox field; delegated, the signed-in user needs Full Access to a shared mailbox and IMAP.AccessAsUser.All consented; app-only, run New-ServicePrincipal for the app and Add-MailboxPermission -Identity <mailbox> -User <service principal ID> -AccessRights FullAccess. Also check IMAP is enabled: Set-CASMailbox -Identity <mailbox> -ImapEnabled $true.',
			retryable: false,
			serverResponse: text,
		};
	}
	// Dovecot and Exchange answer NO [UNAVAILABLE] when the token could not be checked right now.
	if (error.serverResponseCode === 'UNAVAILABLE' || /\[UNAVAILABLE\]|Temporary authentication failure/i.test(text)) {
		return {
			source: 'imap',
			code: 'IMAP_TEMPORARY_FAILURE',
			message: 'The IMAP server could not check the sign-in right now (NO [UNAVAILABLE], a temporary failure): the token was not refused.',
			hint: 'Temporary: the node tried once more after a short pause without renewing the token. Run it again later; nothing about the credential or the mailbox permissions needs changing.',
			retryable: true,
			serverResponse: text,
		};
	}
	if (error.authenticationFailed || error.serverResponseCode === 'AUTHENTICATIONFAILED') {
		return {
			source: 'imap',
			code: 'IMAP_AUTH_REJECTED',
			message: 'The IMAP server rejected the OAuth sign-in for this mailbox.',
			hint: 'Check that the token carries IMAP.AccessAsUser.All (delegated) or IMAP.AccessAsApp with a registered service principal and mailbox permission (app-only), and that IMAP is enabled for the mailbox (Set-CASMailbox -Identity <mailbox> -ImapEnabled $true).',
			retryable: false,
			serverResponse: text,
		};
	}
	const net = networkFailure('imap', error.code ?? '', text);
	if (net)
		return {
			...net,
			hint: net.hint.replace('smtp.office365.com:587, ', ''),
		};
	return {
		source: 'imap',
		code: error.code ? `IMAP_${error.code}` : 'IMAP_ERROR',
		message: error.message,
		hint: 'Check the IMAP settings in the credential.',
		retryable: false,
		serverResponse: text,
	};
}

/** A delegate without Full Access on the mailbox it opens over IMAP, with the command filled in. */
export function fullAccessFailure(mailbox: string, signedIn: string, cause: MailFailure): MailFailure {
	return {
		source: 'imap',
		code: 'IMAP_NO_FULL_ACCESS',
		message: `IMAP: ${signedIn} signed in, but could not open ${mailbox} (it needs Full Access on that mailbox).`,
		hint: `In Exchange Online PowerShell run: Add-MailboxPermission -Identity ${mailbox} -User ${signedIn} -AccessRights FullAccess (it can take up to an hour to apply). Also check that IMAP is on for the mailbox: Set-CASMailbox -Identity ${mailbox} -ImapEnabled $true.`,
		retryable: false,
		...(cause.serverResponse ? { serverResponse: cause.serverResponse } : {}),
	};
}

/** The signed-in account may not send as `from`, with the command filled in. */
export function sendAsFailure(from: string, signedIn: string, cause: MailFailure): MailFailure {
	return {
		...cause,
		code: 'SMTP_SEND_AS_DENIED',
		message: `SMTP: ${signedIn} signed in, but may not send as ${from} (it needs Send As on that address).`,
		hint: `In Exchange Online PowerShell run: Add-RecipientPermission -Identity ${from} -Trustee ${signedIn} -AccessRights SendAs -Confirm:$false (it can take up to an hour to apply), or leave From empty to send as the Mailbox.`,
		retryable: false,
	};
}

/** A port/security mismatch, told with the host, port and what to set. */
export function portSecurityMismatch(source: 'smtp' | 'imap', where: { host: string; port: number; secure: boolean }, serverResponse?: string): MailFailure {
	const label = source === 'smtp' ? 'SMTP' : 'IMAP';
	const tlsPort = source === 'smtp' ? 465 : 993;
	const starttlsPort = source === 'smtp' ? 587 : 143;
	return where.secure
		? {
				source,
				code: 'TLS_PORT_MISMATCH',
				message: `${label}: implicit TLS was tried on ${where.host}:${where.port}, but the server there speaks plain text first (a STARTTLS port).`,
				hint: `Set ${label} Security to STARTTLS for port ${where.port}, or use the implicit-TLS port ${tlsPort}. This is not a certificate problem: no CA certificate is needed.`,
				retryable: false,
				...(serverResponse ? { serverResponse } : {}),
			}
		: {
				source,
				code: 'TLS_PORT_MISMATCH',
				message: `${label}: STARTTLS was tried on ${where.host}:${where.port}, but the server there expects TLS from the first byte (an implicit-TLS port), so no greeting came.`,
				hint: `Set ${label} Security to TLS (implicit) for port ${where.port}, or use the STARTTLS port ${starttlsPort}. This is not a firewall or certificate problem.`,
				retryable: false,
				...(serverResponse ? { serverResponse } : {}),
			};
}

/**
 * The connection dropped after the whole message had been sent but before the server answered:
 * it may have been accepted. Never retried, so a recipient never gets it twice.
 */
export function outcomeUnknownFailure(cause: MailFailure): MailFailure {
	return {
		source: 'smtp',
		code: 'SMTP_OUTCOME_UNKNOWN',
		message: 'The connection dropped after the message was sent, before the server confirmed it; it may or may not have been delivered.',
		hint: "The node did not resend it, so nobody gets it twice. Check the recipients' inboxes (or the mailbox's Sent Items / message trace in the Exchange admin center) before sending it again.",
		retryable: false,
		outcomeUnknown: true,
		serverResponse: cause.serverResponse,
	};
}

/* ------------------------------------------------------------------------------ carrying errors */

/** An error whose user-facing meaning is already known. Its message never holds a secret. */
export class MailError extends Error {
	constructor(readonly failure: MailFailure) {
		super(failure.message);
		this.name = 'MailError';
	}
}

export function isMailError(e: unknown): e is MailError {
	return e instanceof MailError;
}

/** Input or setup problems: the user must change a field. */
export function inputFailure(field: string, message: string, hint: string): MailFailure {
	return { source: 'input', code: 'INVALID_INPUT', message: `${field}: ${message}`, hint, retryable: false };
}
