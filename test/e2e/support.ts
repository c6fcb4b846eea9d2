// Shared pieces of the end-to-end tier: the packed package, credential data pointing at the mail
// stack, the IdP's admin API, finding a delivered message over IMAP, and the headless browser.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ImapFlow } from 'imapflow';
import { simpleParser, type ParsedMail } from 'mailparser';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { TokenRequestRecord } from '../stack/idp';
import { installN8n, startN8n, stopN8n } from '../n8n/cli';
import { N8nClient } from '../n8n/client';
import { IdpAdmin, ensureMailStack, mailStackConfig, stackCredentialFields, stopMailStack, type MailStack } from '../stack/mailstack';

export const REPO = resolve(__dirname, '..', '..');
export const ARTIFACTS = join(REPO, 'test-artifacts');
export const CREDENTIAL_TYPE = 'microsoftMailOAuth2Api';
export const PACKAGE = 'n8n-nodes-m365-mail';
/** An app registration of this tier only, so its token requests are told apart from other users of the stack's IdP. */
export const E2E_CLIENT = { clientId: 'e2e-n8n-m365-mail-client', clientSecret: 'e2e-n8n-secret-not-real', appMailboxes: ['reports@example.test'] };
export const DELEGATED_SCOPE = 'offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All';

export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function record(value: unknown): Record<string, unknown> {
	return isRecord(value) ? value : {};
}

/** `npm run build && npm pack` into a temporary folder: the tarball users install. */
export function buildAndPack(): { tarball: string; cleanup: () => void } {
	execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'ignore' });
	const dir = mkdtempSync(join(tmpdir(), 'm365-e2e-pack-'));
	const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: REPO, encoding: 'utf8' });
	const tarball = join(dir, out.trim().split('\n').pop() ?? '');
	if (!existsSync(tarball)) throw new Error(`npm pack produced no tarball (${out})`);
	return { tarball, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Delegated (Connect my account) credential data against the stack: alice's mailbox, Postfix, Dovecot "m365". */
export function delegatedCredentialData(stack: MailStack = mailStackConfig()): Record<string, unknown> {
	return { ...stackCredentialFields(stack), clientId: E2E_CLIENT.clientId, clientSecret: E2E_CLIENT.clientSecret };
}

/** App-only (client credentials) data for the Test button. */
export function appOnlyCredentialData(clientSecret: string, stack: MailStack = mailStackConfig()): Record<string, unknown> {
	return {
		grantType: 'clientCredentials',
		tenantId: 'test-tenant',
		customTokenUrl: stack.tokenUrl,
		clientId: E2E_CLIENT.clientId,
		clientSecret,
		mailbox: 'reports@example.test',
		smtpHost: '127.0.0.1',
		smtpPort: stack.ports.submission,
		imapHost: '127.0.0.1',
		imapPort: stack.ports.m365Imaps,
		customCa: readFileSync(stack.caPath, 'utf8'),
	};
}

export function idpAdmin(stack: MailStack = mailStackConfig()): IdpAdmin {
	return new IdpAdmin(stack.idpUrl);
}

/** Token requests of this tier's client since `since` (epoch ms); the stack's IdP may be shared. */
export async function e2eTokenRequests(since: number): Promise<TokenRequestRecord[]> {
	const all = await idpAdmin().tokenRequests();
	return all.filter((r) => r.clientId === E2E_CLIENT.clientId && r.at >= since);
}

/** The IdP's own opinion of an access token (`/_admin/verify`). */
export async function idpVerify(accessToken: string, user?: string): Promise<Record<string, unknown>> {
	const res = await fetch(`${mailStackConfig().idpUrl}/_admin/verify`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ token: accessToken, ...(user ? { user } : {}) }),
	});
	return record(await res.json());
}

/** Waits for the message with this Message-ID in `user`'s INBOX (Dovecot, XOAUTH2), parsed. */
export async function findMessage(user: string, messageId: string, timeoutMs = 20_000): Promise<ParsedMail> {
	const stack = mailStackConfig();
	const admin = idpAdmin(stack);
	const { access_token: token } = await admin.issueTokens({
		clientId: stack.client.clientId,
		user,
		scope: 'https://outlook.office.com/IMAP.AccessAsUser.All',
	});
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const client = new ImapFlow({
			host: '127.0.0.1',
			port: stack.ports.m365Imaps,
			secure: true,
			tls: { ca: readFileSync(stack.caPath, 'utf8') },
			auth: { user, accessToken: token },
			logger: false,
		});
		await client.connect();
		try {
			const lock = await client.getMailboxLock('INBOX');
			try {
				const uids = await client.search({ header: { 'message-id': messageId } }, { uid: true });
				const last = Array.isArray(uids) ? uids[uids.length - 1] : undefined;
				if (last !== undefined) {
					const message = await client.fetchOne(String(last), { source: true }, { uid: true });
					if (message && message.source) return await simpleParser(message.source);
				}
			} finally {
				lock.release();
			}
		} finally {
			await client.logout();
		}
		if (Date.now() > deadline) throw new Error(`no message ${messageId} for ${user} after ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, 500));
	}
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Debian's Chromium, headless, with a fresh profile; `close()` removes the profile too. */
export async function openBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
	if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run "bash test/e2e/setup.sh" (apt-get install -y chromium)`);
	const profile = mkdtempSync(join(tmpdir(), 'm365-e2e-chromium-'));
	// launchPersistentContext passes --user-data-dir itself.
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		viewport: { width: 1400, height: 1000 },
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	return {
		context,
		close: async () => {
			await context.close();
			rmSync(profile, { recursive: true, force: true });
		},
	};
}

/** Signs in at /signin with the env-managed owner. */
export async function signIn(page: Page, baseUrl: string, email: string, password: string): Promise<void> {
	await page.goto(`${baseUrl}/signin`);
	await page.locator('input[type="email"], input[name="emailOrLdapLoginId"]').first().fill(email);
	await page.locator('input[type="password"]').first().fill(password);
	await page.getByRole('button', { name: /sign in/i }).click();
	await page.waitForURL((url) => !url.pathname.startsWith('/signin'), { timeout: 30_000 });
}

export function artifactPath(name: string): string {
	mkdirSync(ARTIFACTS, { recursive: true });
	return join(ARTIFACTS, name);
}

/**
 * The run document `n8n execute --rawOutput` printed. When the workflow fails, the CLI prints
 * "Error executing workflow ..." after the JSON, so cli.ts's extractJson (which parses to the end)
 * finds nothing: here each top-level `{` ... `}` line pair is tried.
 */
export function cliRunDocument(stdout: string): Record<string, unknown> {
	const lines = stdout.split('\n');
	for (let start = 0; start < lines.length; start++) {
		if (!lines[start].startsWith('{')) continue;
		for (let end = start; end < lines.length; end++) {
			if (!lines[end].startsWith('}')) continue;
			try {
				return record(JSON.parse(lines.slice(start, end + 1).join('\n')));
			} catch {
				// not this pair; keep looking
			}
		}
	}
	throw new Error(`no run document in n8n execute output:\n${stdout.slice(0, 2000)}`);
}

export interface PackedN8n {
	/** Signed in as the owner. */
	n8n: N8nClient;
	/** Stops n8n, removes the packed tarball, and stops the mail stack if it was started here (unless MAILSTACK_KEEP). */
	stop(): Promise<void>;
}

/**
 * What every file of this tier starts with: the mail stack (if it is not up), this tier's IdP client,
 * n8n (installed once, cached) with the packed package, and a signed-in REST client. What it started
 * is stopped again if a later step fails.
 */
export async function startPackedN8n(stack: MailStack = mailStackConfig()): Promise<PackedN8n> {
	const stackStartedHere = await ensureMailStack(stack);
	let pack: { tarball: string; cleanup: () => void } | undefined;
	const stop = async () => {
		await stopN8n().catch(() => undefined);
		pack?.cleanup();
		if (stackStartedHere && !process.env.MAILSTACK_KEEP) stopMailStack();
	};
	try {
		await idpAdmin(stack).addClient(E2E_CLIENT);
		await installN8n(); // a no-op once cached
		pack = buildAndPack();
		await startN8n({ packageTarball: pack.tarball });
		const n8n = N8nClient.fromEnv();
		await n8n.login();
		return { n8n, stop };
	} catch (error: unknown) {
		await stop();
		throw error;
	}
}
