// The grants of an Entra v2 token endpoint (authorization_code, refresh_token, client_credentials),
// the access-token claims, and the check a mail server does before accepting a token.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { invalidClient, invalidGrant, invalidRequest, invalidScope, TokenError } from './aadsts';
import { Directory } from './directory';
import { type Claims, type JwtCheck, type SigningKey, signJwt, verifyJwt } from './jwt';
import { defaultAppRoles, delegatedPermissions, isDefaultScope, parseScope } from './scopes';

export interface IdpClient {
	clientId: string;
	clientSecret: string;
	/** Mailboxes an app-only (client credentials) token may use; the first becomes its `email` claim. */
	appMailboxes?: string[];
	/** Roles of app-only tokens; default `SMTP.SendAsApp IMAP.AccessAsApp` for Outlook resources. */
	appRoles?: string[];
	/** When set, authorize and code exchange only accept these redirect URIs (Entra's app registration). */
	redirectUris?: string[];
	/**
	 * "Accounts in any organizational directory". Default false: a single-tenant registration, as the
	 * README has users create, which Entra refuses on /common and /organizations (AADSTS50194).
	 */
	multiTenant?: boolean;
	/**
	 * Access-token lifetime for this app alone, in seconds (Entra: a token lifetime policy assigned to
	 * the app registration; its minimum is 10 minutes, shorter here only to exercise renewals).
	 */
	accessTokenTtlSeconds?: number;
}

/** The login a mail server is asked for: SMTP AUTH takes only the signed-in account; IMAP may open a mailbox with Full Access. */
export type MailProtocol = 'smtp' | 'imap';

export interface TokenResponse {
	token_type: 'Bearer';
	scope: string;
	expires_in: number;
	ext_expires_in: number;
	access_token: string;
	refresh_token?: string;
	/** When `openid` was asked for: who signed in (`preferred_username` is the UPN, as in Entra v2). */
	id_token?: string;
}

export type VerifyResult = JwtCheck;

interface RefreshGrant {
	clientId: string;
	user: string;
	scope: string;
	revoked: boolean;
}

interface AuthCode {
	clientId: string;
	redirectUri: string;
	scope: string;
	user: string;
	codeChallenge?: string;
	codeChallengeMethod?: string;
	used: boolean;
	expiresAt: number;
}

export interface AuthorizeRequest {
	clientId: string;
	redirectUri: string;
	scope: string;
	user: string;
	codeChallenge?: string;
	codeChallengeMethod?: string;
}

export interface TokenServiceOptions {
	accessTokenTtlSeconds: number;
	rotateRefreshTokens: boolean;
	/** Base of the issuer, e.g. `http://127.0.0.1:18080`; known only once the server listens. */
	baseUrl: () => string;
}

const CODE_TTL_MS = 10 * 60 * 1000;
const opaque = (bytes: number): string => randomBytes(bytes).toString('base64url');
const sameText = (a: string, b: string): boolean => {
	const x = Buffer.from(a);
	const y = Buffer.from(b);
	return x.length === y.length && timingSafeEqual(x, y);
};

function stableUuid(seed: string): string {
	const h = createHash('sha256').update(seed).digest('hex');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Entra puts the directory GUID in `tid`; a readable test tenant name gets a stable GUID. */
export function tenantId(tenant: string): string {
	return /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(tenant) ? tenant.toLowerCase() : stableUuid(`tenant:${tenant}`);
}

export class TokenService {
	readonly clients = new Map<string, IdpClient>();
	private readonly refreshGrants = new Map<string, RefreshGrant>();
	private readonly codes = new Map<string, AuthCode>();
	private omitRefreshCount = 0;

	constructor(
		private readonly key: SigningKey,
		private readonly options: TokenServiceOptions,
		readonly directory: Directory = new Directory(),
	) {}

	issuer(tenant: string): string {
		return `${this.options.baseUrl()}/${tenantId(tenant)}/v2.0`;
	}

	addClient(client: IdpClient): void {
		this.clients.set(client.clientId, { ...client, appMailboxes: [...(client.appMailboxes ?? [])] });
	}

	omitRefreshTokenNext(count: number): void {
		this.omitRefreshCount = Math.max(0, count);
	}

	revokeRefreshTokens(user?: string): void {
		for (const grant of this.refreshGrants.values()) {
			if (user === undefined || grant.user.toLowerCase() === user.toLowerCase()) grant.revoked = true;
		}
	}

	/** Client authentication from the form body or HTTP Basic, with Entra's codes. */
	authenticate(clientId: string | undefined, clientSecret: string | undefined): IdpClient {
		if (!clientId) throw invalidRequest(900144, "The request body must contain the following parameter: 'client_id'.");
		const client = this.clients.get(clientId);
		if (!client) throw invalidClient(700016, 400);
		if (!clientSecret) throw invalidClient(7000218, 401);
		if (!sameText(clientSecret, client.clientSecret)) throw invalidClient(7000215, 401);
		return client;
	}

	createAuthorizationCode(request: AuthorizeRequest): string {
		const code = `1.${opaque(48)}`;
		this.codes.set(code, { ...request, used: false, expiresAt: Date.now() + CODE_TTL_MS });
		return code;
	}

	/** Runs one token request; `form` is the already-parsed body, client already authenticated. */
	grant(client: IdpClient, form: URLSearchParams, tenant: string): TokenResponse {
		const expiresIn = parseOverride(form.get('expires_in_override'));
		switch (form.get('grant_type')) {
			case 'authorization_code':
				return this.redeemCode(client, form, tenant, expiresIn);
			case 'refresh_token':
				return this.redeemRefreshToken(client, form, tenant, expiresIn);
			case 'client_credentials':
				return this.clientCredentials(client, form.get('scope') ?? '', tenant, expiresIn);
			default:
				throw new TokenError({ status: 400, error: 'unsupported_grant_type', aadsts: 70003 });
		}
	}

	/** Issue delegated tokens directly, as if "Connect my account" had run. Always includes a refresh token. */
	issueDelegated(clientId: string, user: string, scope: string, tenant: string, expiresIn?: number): TokenResponse & { refresh_token: string } {
		const client = this.clients.get(clientId);
		if (!client) throw new Error(`unknown client ${clientId}; call addClient first`);
		if (this.directory.identity(user).disabled) throw new Error(`${user} is a shared mailbox: its account is disabled and cannot sign in (AADSTS50057)`);
		const response = this.delegated(client, user, scope, tenant, expiresIn, true);
		if (!response.refresh_token) throw new Error('refresh token was omitted');
		return { ...response, refresh_token: response.refresh_token };
	}

	/**
	 * The check a mail server makes before accepting `token` for `user`. With a protocol it is
	 * Exchange's: SMTP takes only the signed-in account's UPN (a shared mailbox or the primary
	 * address of a user whose UPN differs is refused); IMAP takes the account's own mailbox or one it
	 * has Full Access on. App-only tokens may use the client's app mailboxes for both.
	 */
	verify(token: string, user?: string, protocol?: MailProtocol): VerifyResult {
		const check = verifyJwt(this.key, token, Math.floor(Date.now() / 1000));
		if (!check.ok || user === undefined) return check;
		const wanted = user.toLowerCase();
		const { claims } = check;
		const names = [claims.email, claims.upn, claims.preferred_username].filter((v): v is string => typeof v === 'string');
		// Exchange refuses a token without the protocol's permission (delegated scp or app-only roles).
		if (protocol !== undefined) {
			const granted = [...String(claims.scp ?? '').split(' '), ...(Array.isArray(claims.roles) ? claims.roles.map(String) : [])];
			const needed = protocol === 'smtp' ? ['SMTP.Send', 'SMTP.SendAsApp'] : ['IMAP.AccessAsUser.All', 'IMAP.AccessAsApp'];
			if (!granted.some((p) => needed.includes(p))) return { ok: false, reason: `token has no ${protocol.toUpperCase()} permission` };
		}
		if (claims.idtyp === 'app') {
			const client = typeof claims.appid === 'string' ? this.clients.get(claims.appid) : undefined;
			const mailboxes = (client?.appMailboxes ?? []).map((m) => m.toLowerCase());
			return mailboxes.includes(wanted) ? check : { ok: false, reason: `app may not access mailbox ${user}` };
		}
		const holder = { upn: String(claims.upn ?? ''), mail: String(claims.email ?? claims.upn ?? '') };
		if (protocol === 'smtp')
			return holder.upn.toLowerCase() === wanted ? check : { ok: false, reason: `SMTP AUTH must log in as the signed-in account ${holder.upn}, not ${user}` };
		if (protocol === 'imap')
			return this.directory.canOpen(holder, user) ? check : { ok: false, reason: `${holder.upn} has no Full Access on ${user}` };
		return names.some((n) => n.toLowerCase() === wanted) ? check : { ok: false, reason: `token was issued for another user, not ${user}` };
	}

	/** Whether the holder of `token` may send as `address` (own address, Send As, or an app mailbox). */
	maySendAs(token: string, address: string): boolean {
		const check = verifyJwt(this.key, token, Math.floor(Date.now() / 1000));
		if (!check.ok) return false;
		const { claims } = check;
		if (claims.idtyp === 'app') {
			const client = typeof claims.appid === 'string' ? this.clients.get(claims.appid) : undefined;
			return (client?.appMailboxes ?? []).some((m) => m.toLowerCase() === address.toLowerCase());
		}
		return this.directory.canSendAs({ upn: String(claims.upn ?? ''), mail: String(claims.email ?? '') }, address);
	}

	private redeemCode(client: IdpClient, form: URLSearchParams, tenant: string, expiresIn?: number): TokenResponse {
		const entry = this.codes.get(form.get('code') ?? '');
		if (!entry || entry.expiresAt < Date.now()) throw invalidGrant(70008);
		if (entry.used) throw invalidGrant(54005);
		if (entry.clientId !== client.clientId) throw invalidGrant(70000);
		if (entry.redirectUri !== (form.get('redirect_uri') ?? '')) throw invalidGrant(50011);
		if (entry.codeChallenge !== undefined && !pkceMatches(entry, form.get('code_verifier'))) throw invalidGrant(501481);
		entry.used = true;
		return this.delegated(client, entry.user, entry.scope, tenant, expiresIn, parseScope(entry.scope).offlineAccess);
	}

	private redeemRefreshToken(client: IdpClient, form: URLSearchParams, tenant: string, expiresIn?: number): TokenResponse {
		const presented = form.get('refresh_token') ?? '';
		const grant = this.refreshGrants.get(presented);
		if (!grant || grant.revoked) throw invalidGrant(70008);
		if (grant.clientId !== client.clientId) throw invalidGrant(70000);
		// Entra keeps earlier refresh tokens valid after rotation; only revocation ends them.
		const scope = form.get('scope') || grant.scope;
		const reuse = this.options.rotateRefreshTokens ? undefined : presented;
		return this.delegated(client, grant.user, scope, tenant, expiresIn, true, reuse);
	}

	private clientCredentials(client: IdpClient, scope: string, tenant: string, expiresIn?: number): TokenResponse {
		const parsed = parseScope(scope);
		if (!isDefaultScope(parsed) || parsed.names.length !== 1) throw invalidScope(1002012);
		const ttl = expiresIn ?? client.accessTokenTtlSeconds ?? this.options.accessTokenTtlSeconds;
		const roles = client.appRoles ?? defaultAppRoles(parsed.resource);
		const mailbox = client.appMailboxes?.[0];
		const claims: Claims = {
			...this.baseClaims(client, parsed.resource, tenant, ttl, `app:${client.clientId}`),
			idtyp: 'app',
			roles,
			...(mailbox !== undefined ? { email: mailbox } : {}),
		};
		return { token_type: 'Bearer', scope: `${parsed.resource}/.default`, expires_in: ttl, ext_expires_in: ttl, access_token: signJwt(this.key, claims) };
	}

	private delegated(
		client: IdpClient,
		user: string,
		scope: string,
		tenant: string,
		expiresIn: number | undefined,
		withRefresh: boolean,
		reuseRefreshToken?: string,
	): TokenResponse {
		const parsed = parseScope(scope);
		if (parsed.multipleResources) throw invalidScope(28000);
		const permissions = delegatedPermissions(parsed);
		const ttl = expiresIn ?? client.accessTokenTtlSeconds ?? this.options.accessTokenTtlSeconds;
		const who = this.directory.identity(user);
		const base = this.baseClaims(client, parsed.resource, tenant, ttl, `user:${who.upn.toLowerCase()}`);
		const claims: Claims = {
			...base,
			idtyp: 'user',
			scp: permissions.join(' '),
			upn: who.upn,
			email: who.mail,
			preferred_username: who.upn,
			name: who.upn.split('@')[0],
		};
		const response: TokenResponse = {
			token_type: 'Bearer',
			scope: [...permissions.map((p) => `${parsed.resource}/${p}`), ...parsed.oidc].join(' '),
			expires_in: ttl,
			ext_expires_in: ttl,
			access_token: signJwt(this.key, claims),
		};
		if (parsed.oidc.includes('openid'))
			response.id_token = signJwt(this.key, { ...base, aud: client.clientId, ver: '2.0', preferred_username: who.upn, email: who.mail, name: claims.name });
		if (withRefresh && this.omitRefreshCount > 0) {
			this.omitRefreshCount -= 1;
		} else if (withRefresh) {
			const refreshToken = reuseRefreshToken ?? `1.${opaque(96)}`;
			this.refreshGrants.set(refreshToken, { clientId: client.clientId, user, scope, revoked: false });
			response.refresh_token = refreshToken;
		}
		return response;
	}

	private baseClaims(client: IdpClient, resource: string, tenant: string, ttl: number, subject: string): Claims {
		const now = Math.floor(Date.now() / 1000);
		return {
			aud: resource,
			iss: this.issuer(tenant),
			iat: now,
			nbf: now,
			exp: now + ttl,
			sub: createHash('sha256').update(`${subject}|${client.clientId}`).digest('base64url').slice(0, 43),
			oid: stableUuid(subject),
			tid: tenantId(tenant),
			appid: client.clientId,
			azp: client.clientId,
			ver: '2.0',
			uti: opaque(16),
		};
	}
}

function parseOverride(value: string | null): number | undefined {
	if (value === null || value.trim() === '') return undefined;
	const n = Number(value);
	return Number.isInteger(n) ? n : undefined;
}

function pkceMatches(entry: AuthCode, verifier: string | null): boolean {
	if (!verifier || entry.codeChallenge === undefined) return false;
	const computed =
		entry.codeChallengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
	return computed === entry.codeChallenge;
}
