/**
 * Who logs in where. Exchange Online takes SMTP AUTH XOAUTH2 only as the signed-in account (its
 * user principal name): a delegate's token with `user=` a shared mailbox, or with an email address
 * that differs from the UPN, is refused with 535 5.7.3. IMAP may open the mailbox itself (a shared
 * mailbox needs Full Access). App-only tokens carry no UPN: both protocols log in as the mailbox.
 * Pure functions; only names leave this file, never a token.
 */

export type SignInSource = 'token' | 'credential' | 'mailbox' | 'app';

export interface LoginPlan {
	/** XOAUTH2 `user=` for SMTP AUTH. */
	smtpUser: string;
	/** XOAUTH2 `user=` for IMAP AUTHENTICATE (the mailbox to open). */
	imapUser: string;
	/** The account that signed in (delegated), or undefined for app-only. */
	signedInAccount?: string;
	/** Where the signed-in account came from: the sign-in's tokens, the credential field, or assumed to be the mailbox. */
	source: SignInSource;
}

/** The payload of a JWT, or undefined for an opaque or malformed token. */
export function jwtPayload(token: unknown): Record<string, unknown> | undefined {
	if (typeof token !== 'string') return undefined;
	const parts = token.split('.');
	if (parts.length !== 3) return undefined;
	try {
		const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
		return payload && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined;
	} catch {
		return undefined;
	}
}

const ADDRESS = /^[^\s@]+@[^\s@]+$/;

function name(claims: Record<string, unknown> | undefined, claim: string): string | undefined {
	const v = claims?.[claim];
	return typeof v === 'string' && ADDRESS.test(v.trim()) ? v.trim() : undefined;
}

/**
 * The signed-in account's UPN from what the sign-in returned: the access token's `upn`, the
 * id_token's `upn`, then `preferred_username` (the UPN in Entra's v2 id_token) and `unique_name`.
 * Never `email`: that is the primary address, which may differ from the UPN.
 */
export function signedInAccountOf(tokenData: { access_token?: unknown; id_token?: unknown }): string | undefined {
	const access = jwtPayload(tokenData.access_token);
	const id = jwtPayload(tokenData.id_token);
	if (access?.idtyp === 'app') return undefined;
	return name(access, 'upn') ?? name(id, 'upn') ?? name(access, 'preferred_username') ?? name(id, 'preferred_username') ?? name(access, 'unique_name');
}

export function loginPlan(input: {
	grantType: 'authorizationCode' | 'clientCredentials';
	mailbox: string;
	tokenData: { access_token?: unknown; id_token?: unknown };
	/** The credential's optional Signed-In Account field. */
	signInAccount?: string;
}): LoginPlan {
	const { mailbox } = input;
	if (input.grantType === 'clientCredentials') return { smtpUser: mailbox, imapUser: mailbox, source: 'app' };
	const fromToken = signedInAccountOf(input.tokenData);
	if (fromToken) return { smtpUser: fromToken, imapUser: mailbox, signedInAccount: fromToken, source: 'token' };
	if (input.signInAccount) return { smtpUser: input.signInAccount, imapUser: mailbox, signedInAccount: input.signInAccount, source: 'credential' };
	return { smtpUser: mailbox, imapUser: mailbox, signedInAccount: mailbox, source: 'mailbox' };
}

/** True when the account that logs in is not the mailbox (a shared mailbox or another user's). */
export function isDelegate(plan: LoginPlan): boolean {
	return plan.signedInAccount !== undefined && plan.imapUser.toLowerCase() !== plan.signedInAccount.toLowerCase();
}

/** One line for outputs: "alice@contoso.com (from the sign-in)". */
export function describeSource(source: SignInSource): string {
	return { token: 'read from the sign-in', credential: 'from the credential\'s Signed-In Account field', mailbox: 'assumed to be the Mailbox: the sign-in did not name the account', app: 'app-only: the mailbox itself' }[source];
}
