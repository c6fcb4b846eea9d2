/**
 * Reads what an access token grants from its JWT payload, without verifying it (the mail servers do
 * that). Only claims leave this file, never the token. Pure functions.
 */

export interface TokenClaims {
	audience?: string;
	/** Delegated permissions (`scp`), e.g. SMTP.Send IMAP.AccessAsUser.All. */
	scopes: string[];
	/** App-only permissions (`roles`), e.g. SMTP.SendAsApp IMAP.AccessAsApp. */
	roles: string[];
	/** Who the token was issued for (upn, email or preferred_username), delegated tokens only. */
	identity?: string;
	appId?: string;
	tenantId?: string;
	/** Epoch milliseconds from `exp`. */
	expiresAt?: number;
	appOnly: boolean;
}

function text(value: unknown): string | undefined {
	return typeof value === 'string' && value ? value : undefined;
}

/** Claims of a JWT access token, or undefined when the token is opaque. */
export function readTokenClaims(token: string): TokenClaims | undefined {
	const parts = token.split('.');
	if (parts.length !== 3) return undefined;
	let payload: unknown;
	try {
		payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
	} catch {
		return undefined;
	}
	if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
	const claims = payload as Record<string, unknown>;
	const aud = Array.isArray(claims.aud) ? text(claims.aud[0]) : text(claims.aud);
	const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
	const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
	return {
		audience: aud,
		scopes: (text(claims.scp) ?? '').split(' ').filter(Boolean),
		roles,
		identity: text(claims.upn) ?? text(claims.email) ?? text(claims.preferred_username),
		appId: text(claims.appid) ?? text(claims.azp),
		tenantId: text(claims.tid),
		expiresAt: exp,
		appOnly: claims.idtyp === 'app' || (roles.length > 0 && !claims.scp),
	};
}

const SMTP_PERMISSIONS = ['SMTP.Send', 'SMTP.SendAsApp'];
const IMAP_PERMISSIONS = ['IMAP.AccessAsUser.All', 'IMAP.AccessAsApp'];
const OUTLOOK_AUDIENCE = /^https:\/\/(outlook\.office(365)?\.com|outlook\.office365\.us|outlook-dod\.office365\.us|partner\.outlook\.cn)\/?$|^00000002-0000-0ff1-ce00-000000000000$/i;

/**
 * What the claims say will go wrong, before any server is asked. These are notes, not failures:
 * a test server or a custom resource may legitimately differ.
 */
export function claimWarnings(claims: TokenClaims, want: { smtp: boolean; imap: boolean; mailbox: string; microsoft: boolean }): string[] {
	const granted = [...claims.scopes, ...claims.roles];
	const warnings: string[] = [];
	if (want.smtp && !granted.some((p) => SMTP_PERMISSIONS.includes(p)))
		warnings.push(`The token carries no SMTP permission (${claims.appOnly ? 'SMTP.SendAsApp' : 'SMTP.Send'}): add it under API permissions and grant admin consent.`);
	if (want.imap && !granted.some((p) => IMAP_PERMISSIONS.includes(p)))
		warnings.push(`The token carries no IMAP permission (${claims.appOnly ? 'IMAP.AccessAsApp' : 'IMAP.AccessAsUser.All'}): add it under API permissions and grant admin consent.`);
	if (want.microsoft && claims.audience && !OUTLOOK_AUDIENCE.test(claims.audience))
		warnings.push(`The token is for ${claims.audience}, not Exchange Online (https://outlook.office.com): clear Custom Scopes, and do not mix Microsoft Graph scopes in.`);
	if (!claims.appOnly && claims.identity && claims.identity.toLowerCase() !== want.mailbox.toLowerCase())
		warnings.push(`Signed in as ${claims.identity}, for the mailbox ${want.mailbox}: SMTP logs in as ${claims.identity} and sends as ${want.mailbox} (needs Send As); IMAP opens ${want.mailbox} (needs Full Access).`);
	return warnings;
}

/** One line for the token check, e.g. "valid until ...; audience ...; scopes ...". */
export function describeClaims(claims: TokenClaims | undefined, expiresAt: number | undefined, now = Date.now()): string {
	const until = claims?.expiresAt ?? expiresAt;
	const parts = [until ? `valid until ${new Date(until).toISOString()} (${Math.round((until - now) / 60000)} min)` : 'expiry unknown'];
	if (!claims) return `${parts[0]}; the token is not a readable JWT, so scopes and audience are not shown`;
	if (claims.audience) parts.push(`audience ${claims.audience}`);
	if (claims.scopes.length) parts.push(`scopes ${claims.scopes.join(' ')}`);
	if (claims.roles.length) parts.push(`roles ${claims.roles.join(' ')}`);
	if (claims.identity) parts.push(`issued to ${claims.identity}`);
	else if (claims.appOnly && claims.appId) parts.push(`app-only (client ${claims.appId})`);
	return parts.join('; ');
}
