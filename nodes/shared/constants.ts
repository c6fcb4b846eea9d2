/** Everything that differs between Microsoft clouds, and the limits Exchange Online enforces. */

export const CREDENTIAL_TYPE = 'microsoftMailOAuth2Api';

export type CloudName = 'global' | 'usGovHigh' | 'usGovDod' | 'china';

export interface CloudSettings {
	/** Entra ID sign-in host (authorize and token endpoints live under /{tenant}/oauth2/v2.0/). */
	loginHost: string;
	/** Resource that SMTP.Send / IMAP.AccessAsUser.All are granted on (delegated scopes). */
	delegatedResource: string;
	/** Resource for app-only tokens (`<resource>/.default`). */
	appResource: string;
	smtpHost: string;
	imapHost: string;
}

/*
 * Sources of each default (MicrosoftDocs repositories, checked 2026):
 * - Sign-in hosts: entra-docs `docs/identity-platform/authentication-national-cloud.md` (the national
 *   cloud table lists login.microsoftonline.us for both US Government clouds and only
 *   login.partner.microsoftonline.cn for China; login.chinacloudapi.cn is the older host).
 * - Global mail hosts and resources: office-developer-exchange-docs
 *   `docs/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth.md`.
 * - GCC High mail hosts: microsoft-365-docs `microsoft-365/includes/office-365-u.s.-government-gcc-high-endpoints.md`
 *   puts SMTP 587 and IMAP 993 on outlook.office365.us (smtp.office365.us is used by third parties only).
 * - DoD mail hosts: microsoft-365-docs `microsoft-365/includes/office-365-u.s.-government-dod-endpoints.md`
 *   puts SMTP 587 and IMAP 993 on outlook-dod.office365.us (no source has smtp-dod.office365.us).
 * - China mail hosts: smtp.partner.outlook.cn (advertises AUTH XOAUTH2) and partner.outlook.cn
 *   (simonrob/email-oauth2-proxy #237, #255; davmail #341): no Microsoft page lists them.
 * - Scopes outside Global are not documented by Microsoft for SMTP/IMAP: outlook.office365.us
 *   (EmailEngine), outlook-dod.office365.us (admin scripts), partner.outlook.cn (MSAL test scripts).
 * Every host can be overridden in the credential.
 */
export const CLOUDS: Record<CloudName, CloudSettings> = {
	global: {
		loginHost: 'https://login.microsoftonline.com',
		delegatedResource: 'https://outlook.office.com',
		appResource: 'https://outlook.office365.com',
		smtpHost: 'smtp.office365.com',
		imapHost: 'outlook.office365.com',
	},
	usGovHigh: {
		loginHost: 'https://login.microsoftonline.us',
		delegatedResource: 'https://outlook.office365.us',
		appResource: 'https://outlook.office365.us',
		smtpHost: 'outlook.office365.us',
		imapHost: 'outlook.office365.us',
	},
	usGovDod: {
		loginHost: 'https://login.microsoftonline.us',
		delegatedResource: 'https://outlook-dod.office365.us',
		appResource: 'https://outlook-dod.office365.us',
		smtpHost: 'outlook-dod.office365.us',
		imapHost: 'outlook-dod.office365.us',
	},
	china: {
		loginHost: 'https://login.partner.microsoftonline.cn',
		delegatedResource: 'https://partner.outlook.cn',
		appResource: 'https://partner.outlook.cn',
		smtpHost: 'smtp.partner.outlook.cn',
		imapHost: 'partner.outlook.cn',
	},
};

/** Tenants that mean "any tenant": a single-tenant app registration is refused there (AADSTS50194). */
export const MULTI_TENANT_ENDPOINTS: readonly string[] = ['common', 'organizations', 'consumers'];
export const SMTP_PORT = 587;
export const SMTP_IMPLICIT_TLS_PORT = 465;
export const IMAP_PORT = 993;

/** Hosts that belong to Exchange Online: pacing and connection limits apply to them by default. */
export const MICROSOFT_HOSTS: readonly string[] = Object.values(CLOUDS).flatMap((c) => [
	c.smtpHost,
	c.imapHost,
]);

export function isMicrosoftHost(host: string): boolean {
	const h = host.trim().toLowerCase();
	return (
		MICROSOFT_HOSTS.includes(h) ||
		h.endsWith('.office365.com') ||
		h.endsWith('.outlook.com') ||
		h.endsWith('.office365.us') ||
		h.endsWith('.outlook.cn')
	);
}

/** Refresh the access token when it expires within this window (ms). */
export const TOKEN_REFRESH_MARGIN_MS = 5 * 60 * 1000;

/** Exchange Online limits (https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits). */
export const EXCHANGE_LIMITS = {
	recipientsPerMessage: 500,
	messagesPerMinute: 30,
	recipientsPerDay: 10000,
	/** Default maximum message size, counted after base64 encoding. */
	maxMessageBytes: 35 * 1024 * 1024,
	/** Concurrent SMTP connections per mailbox. */
	maxConnections: 3,
} as const;

/** Transient SMTP refusals are retried this many times, with backoff. */
export const SMTP_RETRY = { attempts: 3, baseDelayMs: 2000, maxDelayMs: 30000 } as const;

export const DEFAULT_TIMEOUTS = {
	connectMs: 15000,
	greetingMs: 15000,
	socketMs: 60000,
} as const;
