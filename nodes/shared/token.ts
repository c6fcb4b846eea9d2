/**
 * The one place that reads, checks and refreshes the access token. Both nodes open one
 * `TokenSession` per execution: it refreshes a stale token through n8n's own helper (so the rotated
 * refresh token is saved and concurrent executions are serialized by n8n), and allows exactly one
 * forced refresh when a mail server still rejects the token.
 */
import type { IDataObject, IExecuteFunctions, ILoadOptionsFunctions, ITriggerFunctions } from 'n8n-workflow';

import { CREDENTIAL_TYPE, TOKEN_REFRESH_MARGIN_MS } from './constants';
import { MailError, TOKEN_FAILURES, describeTokenError, retryAfterMs, type MailFailure } from './errors';
import { loginPlan, type LoginPlan } from './identity';
import { redact, secretsOf } from './secrets';
import { checkMailboxSettings, type MailboxSettings } from './settings';

/** Token endpoints that hang must not hang the workflow (n8n's own client waits 5 minutes). */
export const TOKEN_TIMEOUT_MS = 30_000;

/** Throttled by the sign-in service: wait this long (or what Retry-After says, up to the cap), then ask once more. */
export const THROTTLE_WAIT = { defaultMs: 5_000, maxMs: 20_000 } as const;

interface TokenData {
	access_token?: string;
	id_token?: string;
	refresh_token?: string;
	n8n_expires_at?: string | number;
	expires_in?: number | string;
	scope?: string;
}

function tokenDataOf(value: unknown): TokenData {
	return value && typeof value === 'object' ? (value as TokenData) : {};
}

export function expiresAtOf(data: TokenData): number | undefined {
	const at = Number(data.n8n_expires_at);
	return Number.isFinite(at) && at > 0 ? at : undefined;
}

export function isStale(data: TokenData, now = Date.now()): boolean {
	const at = expiresAtOf(data);
	return !data.access_token || at === undefined || at - now < TOKEN_REFRESH_MARGIN_MS;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new MailError({ source: 'token', retryable: true, ...TOKEN_FAILURES.timeout })), ms);
	});
	return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

interface ErrorShape {
	message?: unknown;
	code?: unknown;
	status?: unknown;
	body?: unknown;
	headers?: Record<string, unknown>;
	response?: { status?: unknown; data?: unknown; headers?: Record<string, unknown> };
}

function shapeOf(e: unknown): ErrorShape {
	return e && typeof e === 'object' ? (e as ErrorShape) : { message: String(e) };
}

/** The credential's connection settings, or a MailError naming the field to fix. */
export function settingsOf(credentials: IDataObject): MailboxSettings {
	const { settings, error } = checkMailboxSettings(credentials);
	if (error)
		throw new MailError({ source: 'input', code: 'INVALID_CREDENTIAL', message: `Credential field "${error.field}": ${error.message}`, hint: error.hint, retryable: false });
	return settings;
}

/** Reads the credential's settings without touching the token (e.g. for a dry run). */
export async function readCredentialSettings(ctx: IExecuteFunctions): Promise<MailboxSettings> {
	return settingsOf(await ctx.getCredentials<IDataObject>(CREDENTIAL_TYPE));
}

/** Every n8n context a mail node reads its token in: an execution, a trigger, a dropdown. */
export type TokenContext = IExecuteFunctions | ITriggerFunctions | ILoadOptionsFunctions;

export class TokenSession {
	private tokenData: TokenData;

	private forcedRefresh?: Promise<string>;

	/** Token requests this session made (0 when the stored token was fresh). */
	refreshes = 0;

	/**
	 * Expiry of the token this session's own refresh got, from its `expires_in` (n8n before 2.33
	 * records none on a refresh, and what it returns may still carry the old token's).
	 */
	private refreshedExpiresAt?: number;

	private constructor(
		private readonly ctx: TokenContext,
		private readonly credentials: IDataObject,
		readonly settings: MailboxSettings,
	) {
		this.tokenData = tokenDataOf(credentials.oauthTokenData);
	}

	/**
	 * Reads the credential (or takes the one the caller has just read) and makes sure a fresh access
	 * token is at hand.
	 */
	static async open(ctx: TokenContext, readJustNow?: IDataObject): Promise<TokenSession> {
		const credentials = readJustNow ?? (await ctx.getCredentials<IDataObject>(CREDENTIAL_TYPE));
		if (typeof ctx.helpers.refreshOAuth2Token !== 'function')
			throw new MailError({
				source: 'input',
				code: 'N8N_TOO_OLD',
				message: 'This n8n version cannot refresh OAuth2 tokens for mail nodes.',
				hint: 'Update n8n to version 2.0 or newer (n8n-nodes-m365-mail needs n8n-workflow 2.0+).',
				retryable: false,
			});
		const settings = settingsOf(credentials);
		const session = new TokenSession(ctx, credentials, settings);
		const data = session.tokenData;
		if (settings.grantType === 'authorizationCode' && !data.access_token && !data.refresh_token)
			throw new MailError({ source: 'token', retryable: false, ...TOKEN_FAILURES.notConnected });
		if (isStale(data)) await session.refresh();
		return session;
	}

	get accessToken(): string {
		return this.tokenData.access_token ?? '';
	}

	get expiresAt(): number | undefined {
		return this.refreshedExpiresAt ?? expiresAtOf(this.tokenData);
	}

	/** Who logs in where: SMTP as the signed-in account, IMAP as the mailbox (app-only: the mailbox for both). */
	get logins(): LoginPlan {
		return loginPlan({ grantType: this.settings.grantType, mailbox: this.settings.mailbox, tokenData: this.tokenData, signInAccount: this.settings.signInAccount });
	}

	/** XOAUTH2 user for SMTP AUTH. */
	get smtpUser(): string {
		return this.logins.smtpUser;
	}

	/** XOAUTH2 user for IMAP: the mailbox to open. */
	get imapUser(): string {
		return this.logins.imapUser;
	}

	/** Every secret this session has seen, to mask by value. */
	secrets(): string[] {
		return [...secretsOf(this.credentials), ...secretsOf({ token: this.tokenData })];
	}

	redact(text: string): string {
		return redact(text, this.secrets());
	}

	/**
	 * A server rejected the token. Refresh once per session (later callers share that refresh);
	 * returns the token to retry with, or throws when it cannot be refreshed.
	 */
	async renewAfterRejection(): Promise<string> {
		this.forcedRefresh ??= this.refresh().then(() => this.accessToken);
		return await this.forcedRefresh;
	}

	get renewedAfterRejection(): boolean {
		return this.forcedRefresh !== undefined;
	}

	private async refresh(): Promise<void> {
		const first = await this.refreshOnce().then(
			() => undefined,
			(error: unknown) => ({ error }),
		);
		if (!first) return;
		// Throttling is temporary: wait (bounded) and ask once more; nothing has been sent yet.
		const failure = first.error instanceof MailError ? first.error.failure : undefined;
		const wait = failure && isThrottled(failure) ? (failure.retryAfterMs ?? THROTTLE_WAIT.defaultMs) : undefined;
		if (wait === undefined || wait > THROTTLE_WAIT.maxMs) return await Promise.reject(first.error);
		await new Promise<void>((resolve) => setTimeout(resolve, wait));
		await this.refreshOnce();
	}

	private async refreshOnce(): Promise<void> {
		const before = this.secrets();
		const askedAt = Date.now();
		this.refreshes++;
		const outcome = await withTimeout(
			this.ctx.helpers.refreshOAuth2Token.call(this.ctx, CREDENTIAL_TYPE),
			TOKEN_TIMEOUT_MS,
		).then(
			(fresh: unknown) => ({ fresh, failed: false as const }),
			(error: unknown) => ({ error, failed: true as const }),
		);
		if (outcome.failed) {
			if (outcome.error instanceof MailError) throw outcome.error;
			const failure = this.explain(outcome.error);
			throw new MailError({
				...failure,
				message: redact(failure.message, before),
				serverResponse: failure.serverResponse && redact(failure.serverResponse, before),
			});
		}
		const fresh = tokenDataOf(outcome.fresh);
		this.tokenData = { ...this.tokenData, ...fresh };
		// Count the new token's life from the moment it was asked for. n8n before 2.33 records no
		// expiry on a refresh and hands back the old token's `n8n_expires_at` merged with the answer.
		const lifetime = Number(fresh.expires_in);
		const recorded = expiresAtOf(fresh);
		this.refreshedExpiresAt =
			Number.isFinite(lifetime) && lifetime > 0 ? askedAt + lifetime * 1000 : recorded !== undefined && recorded > askedAt ? recorded : undefined;
		if (!this.tokenData.access_token)
			throw new MailError({ source: 'token', retryable: true, ...TOKEN_FAILURES.unavailable });
	}

	/** Turns whatever n8n's refresh helper threw into the catalogue's words. */
	private explain(e: unknown): MailFailure {
		const err = shapeOf(e);
		const message = String(err.message ?? '');
		if (/no refresh token is available/i.test(message))
			return { source: 'token', retryable: false, ...TOKEN_FAILURES.noRefreshToken };
		if (/not connected/i.test(message))
			return { source: 'token', retryable: false, ...TOKEN_FAILURES.notConnected };
		if (/needs to be reconnected/i.test(message)) {
			// n8n answers Entra's invalid_grant with a new error that keeps neither the body nor the
			// AADSTS code. Asking the token endpoint again would spend the refresh token outside n8n's
			// helper (a success would rotate it and the new tokens would be lost), so say what
			// invalid_grant means instead.
			return describeTokenError({ body: { error: 'invalid_grant' } });
		}
		const status = Number(err.status ?? err.response?.status) || undefined;
		const body = err.body ?? err.response?.data;
		const code = typeof err.code === 'string' ? err.code : undefined;
		const networkCode = code && /^E[A-Z]+$/.test(code) && code !== 'EAUTH' && code !== 'ESTATUS' ? code : undefined;
		let parsed: unknown = body;
		if (typeof body === 'string') {
			try {
				parsed = JSON.parse(body);
			} catch {
				parsed = body;
			}
		}
		const headers = err.headers ?? err.response?.headers;
		return describeTokenError({ status, body: parsed, text: message, networkCode, retryAfterMs: retryAfterMs(headers?.['retry-after']) });
	}
}

function isThrottled(f: MailFailure): boolean {
	return f.code === 'TOKEN_THROTTLED' || f.code === 'AADSTS50196';
}
