// An OAuth 2.0 identity provider that behaves like Microsoft Entra ID v2 on loopback, for tests:
// authorize (auto-consent), token (authorization_code, refresh_token, client_credentials), OIDC
// discovery, JWKS, and an RFC 7662 /introspect that Dovecot's passdb oauth2 calls.
// Tokens and secrets never reach its log lines.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { entraErrorBody, TokenError } from './idp/aadsts';
import { handleAdmin } from './idp/admin';
import { basicCredentials, bearerToken, parseParams, readBody, sendJson, sendText, sleep } from './idp/http';
import { generateSigningKey, publicJwk, type Claims } from './idp/jwt';
import { type IdpClient, type MailProtocol, TokenService, type TokenResponse, type VerifyResult } from './idp/tokens';

export type { IdpClient, MailProtocol, TokenResponse, VerifyResult };

export interface IdpOptions {
	host?: string;
	port?: number;
	accessTokenTtlSeconds?: number;
	rotateRefreshTokens?: boolean;
	quiet?: boolean;
	/** Serve the scripting API under `/_admin/` (the CLI turns it on). */
	admin?: boolean;
	/** Where log lines go when not quiet. */
	log?: (line: string) => void;
}

export interface FailureSpec {
	status?: number;
	error?: string;
	aadsts?: number;
	description?: string;
	/** Sent verbatim instead of the JSON error body (e.g. an HTML 500 page). */
	rawBody?: string;
	/** `Retry-After` header, in seconds (throttling: HTTP 429 with AADSTS50196). */
	retryAfter?: number;
}

export interface TokenRequestRecord {
	grantType: string;
	clientId: string;
	at: number;
	status: number;
}

export type IssuedTokens = TokenResponse & { refresh_token: string };

export interface Idp {
	url: string;
	authorizeUrl(tenant?: string): string;
	tokenUrl(tenant?: string): string;
	introspectUrl: string;
	addClient(c: IdpClient): void;
	issueTokens(p: { clientId: string; user: string; scope: string; expiresIn?: number; tenant?: string }): IssuedTokens;
	/** Exchange's check of a login: `smtp` takes only the signed-in UPN, `imap` the own mailbox or one with Full Access. */
	verify(accessToken: string, user?: string, protocol?: MailProtocol): VerifyResult;
	/** Whether the token's holder may send as `address` (own address, Send As, or an app mailbox). */
	maySendAs(accessToken: string, address: string): boolean;
	failNext(count: number, failure: FailureSpec): void;
	setDelay(ms: number): void;
	/** The next `count` introspection requests answer HTTP 500 (a mail server then says "temporary failure"). */
	failIntrospectNext(count: number): void;
	revokeRefreshTokens(user?: string): void;
	omitRefreshTokenNext(count: number): void;
	tokenRequests: TokenRequestRecord[];
	/** Clears scripted failures, delay, omitted refresh tokens and the request log (keeps clients and tokens). */
	reset(): void;
	stop(): Promise<void>;
}

export const DEFAULT_TENANT = 'test-tenant';
export const DEFAULT_USER = 'alice@example.test';

const TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;
const AUTHORIZE_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/authorize$/;
const DISCOVERY_PATH = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/;
const KEYS_PATH = /^(\/[^/]+)?\/discovery\/v2\.0\/keys$/;
const MAILBOX_INTROSPECT_PATH = /^\/introspect\/mailbox\/([^/]+)$/;
const MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);

export async function startIdp(options: IdpOptions = {}): Promise<Idp> {
	const host = options.host ?? '127.0.0.1';
	const quiet = options.quiet ?? true;
	const log = (line: string): void => {
		if (!quiet) (options.log ?? console.log)(`[idp] ${line}`);
	};
	const key = generateSigningKey();
	let baseUrl = '';
	const tokens = new TokenService(key, {
		accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 3600,
		rotateRefreshTokens: options.rotateRefreshTokens ?? true,
		baseUrl: () => baseUrl,
	});
	const failures: FailureSpec[] = [];
	let delayMs = 0;
	let introspectFailures = 0;
	const tokenRequests: TokenRequestRecord[] = [];

	async function token(req: IncomingMessage, res: ServerResponse, tenant: string): Promise<void> {
		const at = Date.now();
		const form = parseParams(await readBody(req), req.headers['content-type']);
		const basic = basicCredentials(req.headers.authorization);
		const clientId = form.get('client_id') ?? basic?.id ?? '';
		const grantType = form.get('grant_type') ?? '';
		const record = (status: number, detail: string): void => {
			tokenRequests.push({ grantType, clientId, at, status });
			log(`POST /${tenant}/oauth2/v2.0/token grant=${grantType || '-'} client=${clientId || '-'} -> ${status}${detail}`);
		};
		if (delayMs > 0) await sleep(delayMs);
		const failure = failures.shift();
		if (failure) {
			const status = failure.status ?? 400;
			record(status, ' (scripted failure)');
			const retryAfter: Record<string, string> = failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {};
			if (failure.rawBody !== undefined) {
				const json = failure.rawBody.trimStart().startsWith('{');
				if (failure.retryAfter !== undefined) res.setHeader('retry-after', String(failure.retryAfter));
				sendText(res, status, failure.rawBody, json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8');
			} else {
				sendJson(res, status, entraErrorBody({ status, error: failure.error ?? 'invalid_request', aadsts: failure.aadsts, description: failure.description }), retryAfter);
			}
			return;
		}
		try {
			if (!grantType) throw new TokenError({ status: 400, error: 'invalid_request', aadsts: 900144 });
			const client = tokens.authenticate(clientId || undefined, form.get('client_secret') ?? basic?.secret);
			if (!client.multiTenant && MULTI_TENANT.has(tenant.toLowerCase()))
				throw grantType === 'client_credentials' && tenant.toLowerCase() !== 'organizations'
					? new TokenError({ status: 400, error: 'invalid_request', aadsts: 9001023 })
					: new TokenError({ status: 400, error: 'invalid_request', aadsts: 50194, description: singleTenantText(client.clientId) });
			const response = tokens.grant(client, form, tenant);
			record(200, '');
			sendJson(res, 200, response);
		} catch (error: unknown) {
			if (!(error instanceof TokenError)) throw error;
			const { entra } = error;
			record(entra.status, ` ${entra.error}${entra.aadsts !== undefined ? ` AADSTS${entra.aadsts}` : ''}`);
			const wwwAuth: Record<string, string> = entra.status === 401 ? { 'www-authenticate': 'Basic realm="login"' } : {};
			sendJson(res, entra.status, entraErrorBody(entra), wwwAuth);
		}
	}

	function authorize(res: ServerResponse, tenant: string, query: URLSearchParams): void {
		const clientId = query.get('client_id') ?? '';
		const redirectUri = query.get('redirect_uri') ?? '';
		const client = tokens.clients.get(clientId);
		const page = (aadsts: number, text: string): void => {
			log(`GET /${tenant}/oauth2/v2.0/authorize client=${clientId || '-'} -> 400 AADSTS${aadsts}`);
			sendText(res, 400, `<!doctype html><title>Sign in</title><h1>Sorry, but we're having trouble signing you in.</h1><p>AADSTS${aadsts}: ${escapeHtml(text)}</p>`);
		};
		if (!client) return page(700016, `Application with identifier '${clientId}' was not found in the directory.`);
		if (!client.multiTenant && MULTI_TENANT.has(tenant.toLowerCase())) return page(50194, singleTenantText(clientId));
		if (!redirectUri) return page(900144, "The request body must contain the following parameter: 'redirect_uri'.");
		if (client.redirectUris && !client.redirectUris.includes(redirectUri)) {
			return page(50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'.`);
		}
		const target = new URL(redirectUri);
		const state = query.get('state');
		if ((query.get('response_type') ?? 'code') !== 'code') {
			target.searchParams.set('error', 'unsupported_response_type');
			target.searchParams.set('error_description', 'AADSTS700054: response_type is not supported for the application.');
		} else if (tokens.directory.identity(query.get('login_hint') || DEFAULT_USER).disabled) {
			// A shared mailbox's account is disabled: it cannot sign in, only be opened by a delegate.
			return page(50057, 'The user account is disabled. The account has been disabled by an administrator.');
		} else {
			const code = tokens.createAuthorizationCode({
				clientId,
				redirectUri,
				scope: query.get('scope') ?? 'openid offline_access',
				user: query.get('login_hint') || DEFAULT_USER,
				codeChallenge: query.get('code_challenge') ?? undefined,
				codeChallengeMethod: query.get('code_challenge_method') ?? (query.get('code_challenge') ? 'plain' : undefined),
			});
			target.searchParams.set('code', code);
			target.searchParams.set('session_state', 'test-session');
		}
		if (state !== null) target.searchParams.set('state', state);
		log(`GET /${tenant}/oauth2/v2.0/authorize client=${clientId} -> 302`);
		res.writeHead(302, { location: target.toString() });
		res.end();
	}

	/**
	 * RFC 7662 for Dovecot's passdb oauth2, Exchange's rules included. Dovecot compares `username`
	 * with the login name and sends the service (`X-Dovecot-Auth-Service`: imap, or smtp for
	 * Postfix's SASL): SMTP gets the signed-in UPN, IMAP the account's own mailbox. Under
	 * `/introspect/mailbox/<address>` (one passdb per shared mailbox) IMAP gets `<address>` when the
	 * holder has Full Access on it; a delegated SMTP login there is never active.
	 */
	async function introspect(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, mailbox?: string): Promise<void> {
		const body = req.method === 'POST' ? parseParams(await readBody(req), req.headers['content-type']) : new URLSearchParams();
		const presented = bearerToken(req.headers.authorization) ?? body.get('token') ?? query.get('token') ?? '';
		const service = String(req.headers['x-dovecot-auth-service'] ?? query.get('service') ?? '').toLowerCase();
		if (introspectFailures > 0) {
			introspectFailures -= 1;
			log(`${req.method ?? 'POST'} /introspect service=${service || '-'} -> 500 (scripted failure)`);
			return sendJson(res, 500, { error: 'server_error', error_description: 'scripted introspection failure' });
		}
		const protocol: MailProtocol | undefined = service === 'smtp' || service === 'submission' ? 'smtp' : service === 'imap' ? 'imap' : undefined;
		const check = mailbox !== undefined ? tokens.verify(presented, mailbox, protocol ?? 'imap') : tokens.verify(presented);
		let answer: Record<string, unknown> = { active: false };
		if (check.ok) {
			const base = introspection(check.claims);
			const app = check.claims.idtyp === 'app';
			const username = mailbox ?? (app ? base.email : protocol === 'smtp' ? (check.claims.upn ?? base.email) : base.email);
			answer = { ...base, username, email: username };
		}
		log(`${req.method ?? 'GET'} /introspect${mailbox ? `/mailbox/${mailbox}` : ''} service=${service || '-'} -> active=${String(answer.active)}${check.ok ? ` user=${String(answer.username)}` : ` (${check.reason})`}`);
		sendJson(res, 200, answer);
	}

	function discovery(tenant: string): Record<string, unknown> {
		return {
			issuer: tokens.issuer(tenant),
			authorization_endpoint: idp.authorizeUrl(tenant),
			token_endpoint: idp.tokenUrl(tenant),
			jwks_uri: `${baseUrl}/${tenant}/discovery/v2.0/keys`,
			introspection_endpoint: idp.introspectUrl,
			response_types_supported: ['code'],
			response_modes_supported: ['query'],
			grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
			subject_types_supported: ['pairwise'],
			id_token_signing_alg_values_supported: ['RS256'],
			token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
			code_challenge_methods_supported: ['plain', 'S256'],
			scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
			tenant_region_scope: 'EU',
		};
	}

	async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const url = new URL(req.url ?? '/', 'http://idp.invalid');
		const path = url.pathname;
		let m: RegExpExecArray | null;
		if (options.admin && path.startsWith('/_admin/')) return handleAdmin(idp, req, res, path.slice('/_admin/'.length));
		if ((m = TOKEN_PATH.exec(path))) {
			if (req.method !== 'POST') return sendJson(res, 405, entraErrorBody({ status: 405, error: 'invalid_request', aadsts: 900561, description: 'The endpoint only accepts POST requests.' }));
			return token(req, res, decodeURIComponent(m[1]));
		}
		if ((m = AUTHORIZE_PATH.exec(path)) && req.method === 'GET') return authorize(res, decodeURIComponent(m[1]), url.searchParams);
		if ((m = DISCOVERY_PATH.exec(path))) return sendJson(res, 200, discovery(decodeURIComponent(m[1])));
		if (KEYS_PATH.test(path)) return sendJson(res, 200, { keys: [publicJwk(key)] });
		if (path === '/introspect') return introspect(req, res, url.searchParams);
		if ((m = MAILBOX_INTROSPECT_PATH.exec(path))) return introspect(req, res, url.searchParams, decodeURIComponent(m[1]));
		sendJson(res, 404, { error: 'not_found', error_description: `No route for ${req.method ?? 'GET'} ${path}` });
	}

	const server = createServer((req, res) => {
		route(req, res).catch((error: unknown) => {
			log(`${req.method ?? 'GET'} ${(req.url ?? '').split('?')[0]} -> 500 (${error instanceof Error ? error.name : 'error'})`);
			if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'internal error in test IdP' });
			else res.end();
		});
	});
	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(options.port ?? 0, host, () => resolve());
	});
	const address = server.address();
	if (address === null || typeof address === 'string') throw new Error('IdP did not bind a TCP port');
	baseUrl = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

	const idp: Idp = {
		url: baseUrl,
		authorizeUrl: (tenant = DEFAULT_TENANT) => `${baseUrl}/${tenant}/oauth2/v2.0/authorize`,
		tokenUrl: (tenant = DEFAULT_TENANT) => `${baseUrl}/${tenant}/oauth2/v2.0/token`,
		introspectUrl: `${baseUrl}/introspect`,
		addClient: (c) => tokens.addClient(c),
		issueTokens: (p) => tokens.issueDelegated(p.clientId, p.user, p.scope, p.tenant ?? DEFAULT_TENANT, p.expiresIn),
		verify: (accessToken, user, protocol) => tokens.verify(accessToken, user, protocol),
		maySendAs: (accessToken, address) => tokens.maySendAs(accessToken, address),
		failNext: (count, failure) => {
			failures.length = 0;
			for (let i = 0; i < count; i += 1) failures.push({ ...failure });
		},
		setDelay: (ms) => {
			delayMs = Math.max(0, ms);
		},
		failIntrospectNext: (count) => {
			introspectFailures = Math.max(0, count);
		},
		revokeRefreshTokens: (user) => tokens.revokeRefreshTokens(user),
		omitRefreshTokenNext: (count) => tokens.omitRefreshTokenNext(count),
		tokenRequests,
		reset: () => {
			failures.length = 0;
			delayMs = 0;
			introspectFailures = 0;
			tokens.omitRefreshTokenNext(0);
			tokenRequests.length = 0;
		},
		stop: () =>
			new Promise<void>((resolve, reject) => {
				server.close((error) => (error ? reject(error) : resolve()));
				server.closeAllConnections();
			}),
	};
	return idp;
}

/** RFC 7662 answer without arrays, which keeps Dovecot's JSON handling on the simple path. */
function introspection(claims: Claims): Record<string, unknown> {
	const pick = (name: string): unknown => claims[name];
	const roles = Array.isArray(claims.roles) ? claims.roles.map(String).join(' ') : undefined;
	const user = pick('email') ?? pick('upn');
	return {
		active: true,
		token_type: 'Bearer',
		scope: pick('scp') ?? roles ?? '',
		client_id: pick('appid'),
		username: user,
		email: user,
		...Object.fromEntries(['sub', 'aud', 'iss', 'exp', 'iat', 'nbf', 'tid', 'oid', 'upn', 'idtyp'].filter((n) => claims[n] !== undefined).map((n) => [n, claims[n]])),
	};
}

/** Entra's words for AADSTS50194. */
function singleTenantText(clientId: string): string {
	return `Application '${clientId}'(n8n mail) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.`;
}

function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
