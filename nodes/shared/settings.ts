/** Reads the credential's fields into validated connection settings (pure, no I/O). */
import { CLOUDS, IMAP_PORT, MULTI_TENANT_ENDPOINTS, SMTP_IMPLICIT_TLS_PORT, SMTP_PORT, isMicrosoftHost, type CloudName } from './constants';

export interface MailboxSettings {
	mailbox: string;
	grantType: 'authorizationCode' | 'clientCredentials';
	cloud: CloudName;
	smtp: { host: string; port: number; secure: boolean };
	/** `secure`: implicit TLS; otherwise STARTTLS is required before login. */
	imap: { host: string; port: number; secure: boolean };
	/** Delegated: the signed-in account typed into the credential, for when the sign-in does not say. */
	signInAccount?: string;
	tls: { rejectUnauthorized: boolean; ca?: string };
	replyTo: string;
	signature: string;
	/** Exchange Online limits (pacing, 3 connections) apply to this SMTP host. */
	isMicrosoftSmtp: boolean;
}

/** A field the user has to fix, with the fix. */
export class SettingsError extends Error {
	constructor(
		readonly field: string,
		message: string,
		readonly hint: string,
	) {
		super(message);
	}
}

/** No white space, `@`, brackets, quotes or separators: what one part of a bare address may hold. */
const ADDRESS_PART = /^[^\s@<>()",;:\\[\]]+$/;
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$|^\[?[0-9a-f:.]+\]?$/i;
const TENANT = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9][a-z0-9.-]*\.[a-z]{2,}|common|organizations|consumers)$/i;

/** `local@domain.tld`, checked by position (linear time) and within RFC 5321's 254 characters. */
export function isEmailAddress(value: string): boolean {
	if (value.length > 254) return false;
	const at = value.indexOf('@');
	const local = value.slice(0, at);
	const domain = value.slice(at + 1);
	const dot = domain.lastIndexOf('.');
	return at > 0 && at <= 64 && ADDRESS_PART.test(local) && ADDRESS_PART.test(domain) && dot > 0 && dot < domain.length - 1;
}

/** The address of `Name <a@b.c>`, or the text itself. */
function bareAddress(value: string): string {
	const trimmed = value.trimEnd();
	const open = trimmed.endsWith('>') ? trimmed.lastIndexOf('<') : -1;
	return open >= 0 ? trimmed.slice(open + 1, -1) : value;
}

const LOOPBACK_HOSTS = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

function text(data: Record<string, unknown>, key: string): string {
	const v = data[key];
	return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
}

function port(data: Record<string, unknown>, key: string, field: string, fallback: number): number {
	const raw = data[key];
	if (raw === undefined || raw === '' || raw === null) return fallback;
	const n = Number(raw);
	if (!Number.isInteger(n) || n < 1 || n > 65535)
		throw new SettingsError(field, `${field} "${String(raw)}" is not a port number.`, `Set ${field} to a number from 1 to 65535 (Microsoft 365: SMTP 587, IMAP 993).`);
	return n;
}

function host(value: string, field: string, fallback: string): string {
	const h = value || fallback;
	if (h.length > 255 || /^[a-z]+:\/\//i.test(h) || !HOST.test(h))
		throw new SettingsError(field, `${field} "${h}" is not a host name.`, `Enter a bare host name such as ${fallback}, without "https://", port or path, or leave it empty for the default.`);
	return h.replace(/^\[|\]$/g, '');
}

function url(value: string, field: string) {
	if (!value) return;
	let parsed: URL | undefined;
	try {
		parsed = new URL(value);
	} catch {
		parsed = undefined;
	}
	if (!parsed || !/^https?:$/.test(parsed.protocol))
		throw new SettingsError(field, `${field} is not a valid URL.`, 'Paste the full https:// endpoint from the app registration\'s Endpoints tab, or clear the field to derive it from the cloud and tenant.');
	// The client secret and the refresh token travel in the request: never in clear over a network.
	if (parsed.protocol === 'http:' && !LOOPBACK_HOSTS.test(parsed.hostname))
		throw new SettingsError(field, `${field} uses http:// to ${parsed.hostname}, which would send the client secret and refresh token unencrypted.`, 'Use the https:// endpoint (plain http:// is accepted only for a proxy on this machine: localhost or 127.0.0.1).');
}

export function readMailboxSettings(data: Record<string, unknown>): MailboxSettings {
	const cloudName = (text(data, 'cloud') || 'global') as CloudName;
	const cloud = CLOUDS[cloudName];
	if (!cloud)
		throw new SettingsError('Cloud', `Unknown cloud "${cloudName}".`, 'Choose Global, US Government GCC High, US Government DoD or China in the credential.');
	const grantType = text(data, 'grantType') === 'clientCredentials' ? 'clientCredentials' : 'authorizationCode';

	const tenant = text(data, 'tenantId');
	if (!tenant && !text(data, 'customTokenUrl'))
		throw new SettingsError('Directory (Tenant) ID', 'The credential has no Directory (tenant) ID.', "Copy the Directory (tenant) ID (a GUID) from the app registration's Overview page, or use the tenant's domain such as contoso.onmicrosoft.com.");
	if (tenant && (tenant.length > 256 || !TENANT.test(tenant)) && !text(data, 'customTokenUrl'))
		throw new SettingsError('Directory (Tenant) ID', `Directory (Tenant) ID "${tenant}" is not a tenant ID or domain.`, "Copy the Directory (tenant) ID (a GUID) from the app registration's Overview page, or use the tenant's domain such as contoso.onmicrosoft.com.");
	if (grantType === 'clientCredentials' && MULTI_TENANT_ENDPOINTS.includes(tenant.toLowerCase()) && !text(data, 'customTokenUrl'))
		throw new SettingsError('Directory (Tenant) ID', `App-only access cannot use the "${tenant}" tenant.`, "Enter the Directory (tenant) ID or domain of the mailbox's tenant.");
	url(text(data, 'customAuthUrl'), 'Custom Authorization URL');
	url(text(data, 'customTokenUrl'), 'Custom Token URL');

	const mailbox = text(data, 'mailbox');
	if (!mailbox)
		throw new SettingsError('Mailbox', 'The credential has no mailbox address.', 'Enter the mailbox address (e.g. reports@contoso.com) in the credential\'s Mailbox field.');
	if (!isEmailAddress(mailbox))
		throw new SettingsError('Mailbox', `Mailbox "${mailbox}" is not an email address.`, 'Enter a single address such as reports@contoso.com, without a display name.');

	const signInAccount = grantType === 'authorizationCode' ? text(data, 'signInAccount') : '';
	if (signInAccount && !isEmailAddress(signInAccount))
		throw new SettingsError('Signed-In Account (UPN)', `Signed-In Account "${signInAccount}" is not a user principal name.`, 'Enter the account that signed in, such as alice@contoso.onmicrosoft.com, or clear the field to read it from the sign-in.');

	const smtpHost = host(text(data, 'smtpHost'), 'SMTP Host', cloud.smtpHost);
	const smtpSecure = text(data, 'smtpSecurity') === 'tls';
	// Implicit TLS never works on the STARTTLS port: the untouched default 587 becomes 465.
	const typedPort = port(data, 'smtpPort', 'SMTP Port', SMTP_PORT);
	const smtpPort = smtpSecure && typedPort === SMTP_PORT ? SMTP_IMPLICIT_TLS_PORT : typedPort;
	const replyTo = text(data, 'replyTo');
	if (replyTo && !isEmailAddress(bareAddress(replyTo)))
		throw new SettingsError('Default Reply-To', `Default Reply-To "${replyTo}" is not an email address.`, 'Enter one address, or clear the field.');
	const ca = text(data, 'customCa');
	if (ca && !ca.includes('-----BEGIN CERTIFICATE-----'))
		throw new SettingsError('Trusted CA Certificate (PEM)', 'The trusted CA is not a PEM certificate.', 'Paste the CA certificate including the -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines, or clear the field.');

	return {
		mailbox,
		grantType,
		cloud: cloudName,
		smtp: {
			host: smtpHost,
			port: smtpPort,
			secure: smtpSecure,
		},
		imap: {
			host: host(text(data, 'imapHost'), 'IMAP Host', cloud.imapHost),
			port: port(data, 'imapPort', 'IMAP Port', IMAP_PORT),
			secure: text(data, 'imapSecurity') !== 'starttls',
		},
		...(signInAccount ? { signInAccount } : {}),
		tls: { rejectUnauthorized: data.allowUnauthorizedCerts !== true, ca: ca || undefined },
		replyTo,
		signature: typeof data.signature === 'string' ? data.signature : '',
		isMicrosoftSmtp: isMicrosoftHost(smtpHost),
	};
}

/** Like readMailboxSettings, but hands back the field error instead of throwing it. */
export function checkMailboxSettings(
	data: Record<string, unknown>,
): { settings: MailboxSettings; error?: undefined } | { settings?: undefined; error: SettingsError } {
	try {
		return { settings: readMailboxSettings(data) };
	} catch (e) {
		if (e instanceof SettingsError) return { error: e };
		return { error: new SettingsError('Credential', String(e), 'Check the credential fields.') };
	}
}
