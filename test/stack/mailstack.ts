// The TypeScript face of test/stack/mailstack.sh for interop tests: where the servers listen,
// the CA to trust, a client for the IdP's /_admin/ API, and start-if-needed for jest.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import type { FailureSpec, IdpClient, IssuedTokens, TokenRequestRecord, TokenResponse } from './idp';

/**
 * The one password login of the stack (mailstack.sh BENCH_IMAP_*): n8n's Email Trigger (IMAP) in
 * `npm run bench`, on ports.benchImaps only. BENCH_M365_MAILBOX is the mailbox the Microsoft 365
 * Mail Trigger watches over XOAUTH2 in the same benchmark.
 */
export const BENCH_IMAP_LOGIN = { user: 'bench-imap@example.test', password: 'bench-imap-password' };
export const BENCH_M365_MAILBOX = 'bench-m365@example.test';

export const STACK_SCRIPT = resolve(__dirname, 'mailstack.sh');
const REPO = resolve(__dirname, '..', '..');

const envPort = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);

export interface MailStack {
	dir: string;
	caPath: string;
	idpUrl: string;
	tokenUrl: string;
	authorizeUrl: string;
	/** The app registration the stack's IdP starts with (test/stack/idp-clients.json). */
	client: IdpClient;
	ports: {
		idp: number;
		/** Dovecot "full": AUTH=XOAUTH2 and AUTH=OAUTHBEARER, QUOTA. */
		imap: number;
		imaps: number;
		/** Dovecot "m365": only AUTH=XOAUTH2, like outlook.office365.com. */
		m365Imap: number;
		m365Imaps: number;
		/** Postfix submission, STARTTLS required (like smtp.office365.com:587). */
		submission: number;
		/** Postfix submission over implicit TLS (465). */
		smtps: number;
		dovecotSubmission: number;
		/** Postfix without auth or TLS, for relaying fixtures. */
		smtpRelay: number;
		/** Dovecot "bench": implicit TLS, password login for BENCH_IMAP_LOGIN's mailbox only (npm run bench). */
		benchImaps: number;
	};
}

export function mailStackConfig(): MailStack {
	const dir = process.env.MAILSTACK_DIR ?? join(REPO, '.stack');
	const idpPort = envPort('MAILSTACK_IDP_PORT', 18080);
	const idpUrl = `http://127.0.0.1:${idpPort}`;
	const clientsFile = process.env.MAILSTACK_IDP_CLIENTS ?? join(__dirname, 'idp-clients.json');
	const clients: unknown = JSON.parse(readFileSync(clientsFile, 'utf8'));
	const first: unknown = Array.isArray(clients) ? clients[0] : undefined;
	if (!isClient(first)) throw new Error(`${clientsFile}: expected an array of {clientId, clientSecret, appMailboxes}`);
	return {
		dir,
		caPath: process.env.MAILSTACK_CA ?? join(dir, 'certs', 'ca.pem'),
		idpUrl,
		tokenUrl: `${idpUrl}/test-tenant/oauth2/v2.0/token`,
		authorizeUrl: `${idpUrl}/test-tenant/oauth2/v2.0/authorize`,
		client: first,
		ports: {
			idp: idpPort,
			imap: envPort('MAILSTACK_IMAP_PORT', 10143),
			imaps: envPort('MAILSTACK_IMAPS_PORT', 10993),
			m365Imap: envPort('MAILSTACK_M365_IMAP_PORT', 11143),
			m365Imaps: envPort('MAILSTACK_M365_IMAPS_PORT', 11993),
			submission: envPort('MAILSTACK_SUBMISSION_PORT', 12587),
			smtps: envPort('MAILSTACK_SMTPS_PORT', 12465),
			dovecotSubmission: envPort('MAILSTACK_DOVECOT_SUBMISSION_PORT', 11587),
			smtpRelay: envPort('MAILSTACK_SMTP_RELAY_PORT', 11025),
			benchImaps: envPort('MAILSTACK_BENCH_IMAPS_PORT', 13993),
		},
	};
}

function isClient(value: unknown): value is IdpClient {
	return typeof value === 'object' && value !== null && 'clientId' in value && typeof value.clientId === 'string' && 'clientSecret' in value && typeof value.clientSecret === 'string';
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
	return new Promise((done) => {
		const socket = connect({ port, host });
		socket.setTimeout(1000);
		socket.once('connect', () => {
			socket.destroy();
			done(true);
		});
		socket.once('error', () => done(false));
		socket.once('timeout', () => {
			socket.destroy();
			done(false);
		});
	});
}

/**
 * Starts the stack with mailstack.sh unless every port already answers.
 * Returns whether it started it, so the caller stops only what it started.
 */
export async function ensureMailStack(stack: MailStack = mailStackConfig()): Promise<boolean> {
	const open = await Promise.all(Object.values(stack.ports).map((p) => portOpen(p)));
	if (open.every(Boolean)) return false;
	// Output goes to a file, not a pipe: spawnSync would otherwise wait for the daemons to close it.
	mkdirSync(stack.dir, { recursive: true });
	const logPath = join(stack.dir, 'mailstack-start.log');
	const log = openSync(logPath, 'w');
	try {
		const run = spawnSync('bash', [STACK_SCRIPT, 'start'], { stdio: ['ignore', log, log], env: process.env, timeout: 180_000 });
		if (run.status !== 0) {
			throw new Error(`mailstack.sh start failed (run "test/stack/mailstack.sh install" first, as root):\n${readFileSync(logPath, 'utf8')}`);
		}
	} finally {
		closeSync(log);
	}
	return true;
}

export function stopMailStack(): void {
	spawnSync('bash', [STACK_SCRIPT, 'stop'], { stdio: 'ignore', env: process.env, timeout: 60_000 });
}

/** Restarts one Dovecot instance of a running stack: its IMAP sessions are cut, then it listens again. */
export function restartDovecot(instance: 'm365' | 'full' = 'm365'): void {
	const run = spawnSync('bash', [STACK_SCRIPT, 'restart-dovecot', instance], { encoding: 'utf8', env: process.env, timeout: 120_000 });
	if (run.status !== 0) throw new Error(`mailstack.sh restart-dovecot ${instance} failed: ${run.stdout}${run.stderr}`);
}

/** Client for the `/_admin/` API of an IdP started by idp-cli.ts (e.g. the stack's). */
export class IdpAdmin {
	constructor(private readonly idpUrl: string) {}

	private async call(path: string, body?: Record<string, unknown>): Promise<unknown> {
		const res = await fetch(`${this.idpUrl}/_admin/${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
		const parsed: unknown = await res.json();
		if (!res.ok) throw new Error(`IdP admin ${path}: HTTP ${res.status} ${JSON.stringify(parsed)}`);
		return parsed;
	}

	async addClient(client: IdpClient): Promise<void> {
		await this.call('clients', { ...client });
	}

	async issueTokens(p: { clientId: string; user: string; scope: string; expiresIn?: number }): Promise<IssuedTokens> {
		const issued = await this.call('issue-tokens', p);
		if (!isTokenResponse(issued) || typeof issued.refresh_token !== 'string') throw new Error('IdP admin issue-tokens: unexpected answer');
		return { ...issued, refresh_token: issued.refresh_token };
	}

	async failNext(count: number, failure: FailureSpec): Promise<void> {
		await this.call('fail-next', { count, ...failure });
	}

	async setDelay(ms: number): Promise<void> {
		await this.call('delay', { ms });
	}

	/** The next `count` introspections answer HTTP 500: Dovecot then says `NO [UNAVAILABLE]`. */
	async failIntrospectNext(count: number): Promise<void> {
		await this.call('fail-introspect-next', { count });
	}

	async revokeRefreshTokens(user?: string): Promise<void> {
		await this.call('revoke', user === undefined ? {} : { user });
	}

	async omitRefreshTokenNext(count: number): Promise<void> {
		await this.call('omit-refresh-token', { count });
	}

	async tokenRequests(): Promise<TokenRequestRecord[]> {
		const list = await this.call('token-requests');
		return Array.isArray(list) ? list.filter(isTokenRequestRecord) : [];
	}

	async reset(): Promise<void> {
		await this.call('reset', {});
	}
}

function isTokenResponse(value: unknown): value is TokenResponse {
	return typeof value === 'object' && value !== null && 'access_token' in value && typeof value.access_token === 'string';
}

function isTokenRequestRecord(value: unknown): value is TokenRequestRecord {
	return typeof value === 'object' && value !== null && 'grantType' in value && 'status' in value;
}

/**
 * The fields of a Microsoft 365 Mail OAuth2 API credential that point it at this stack: its IdP's
 * endpoints, alice's mailbox, Postfix submission (STARTTLS) and the XOAUTH2-only Dovecot, the CA.
 */
export function stackCredentialFields(stack: MailStack = mailStackConfig()): Record<string, string | number> {
	return {
		grantType: 'authorizationCode',
		tenantId: 'test-tenant',
		customAuthUrl: stack.authorizeUrl,
		customTokenUrl: stack.tokenUrl,
		clientId: stack.client.clientId,
		clientSecret: stack.client.clientSecret,
		mailbox: 'alice@example.test',
		smtpHost: '127.0.0.1',
		smtpPort: stack.ports.submission,
		smtpSecurity: 'starttls',
		imapHost: '127.0.0.1',
		imapPort: stack.ports.m365Imaps,
		customCa: readFileSync(stack.caPath, 'utf8'),
	};
}
