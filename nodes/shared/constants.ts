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
		smtpHost: 'smtp.office365.us',
		imapHost: 'outlook.office365.us',
	},
	usGovDod: {
		loginHost: 'https://login.microsoftonline.us',
		delegatedResource: 'https://outlook-dod.office365.us',
		appResource: 'https://outlook-dod.office365.us',
		smtpHost: 'smtp-dod.office365.us',
		imapHost: 'outlook-dod.office365.us',
	},
	china: {
		loginHost: 'https://login.chinacloudapi.cn',
		delegatedResource: 'https://partner.outlook.cn',
		appResource: 'https://partner.outlook.cn',
		smtpHost: 'smtp.partner.outlook.cn',
		imapHost: 'partner.outlook.cn',
	},
};

export const DEFAULT_TENANT = 'organizations';
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
