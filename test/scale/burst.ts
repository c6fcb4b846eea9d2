/**
 * The scale burst: one Webhook -> Send Report Email workflow, one shared credential whose access
 * token is stale, N webhook calls at once against a running n8n (queue mode or a single process,
 * started by test/scale/queue.sh), then checks on the servers themselves:
 *   - every message delivered exactly once (Maildir of bob on the private Postfix/Dovecot stack),
 *   - token requests at the IdP (a recording proxy in front of its token endpoint, plus the IdP's
 *     own request log), and the refresh token stored in PostgreSQL is the newest one issued,
 *   - no execution failed (n8n's REST API).
 * Writes <state>/result-<mode>.json; `--summary` prints both runs and the throughput ratio.
 *
 *   node --import tsx test/scale/burst.ts            (env from queue.sh env + mailstack.sh env)
 *   node --import tsx test/scale/burst.ts --summary
 */
import { spawnSync } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { N8nClient, type ExecutionSummary } from '../n8n/client';
import { IdpAdmin, mailStackConfig, stackCredentialFields } from '../stack/mailstack';

const REPO = resolve(__dirname, '..', '..');
const QUEUE_SH = join(__dirname, 'queue.sh');
const MODE = process.env.SCALE_MODE === 'single' ? 'single' : 'queue';
const STATE = process.env.SCALE_STATE_DIR ?? join(REPO, '.stack', 'scale');
// n8n's executions list answers at most 100 per page: keep a burst within one page.
const BURST = Math.min(100, Number(process.env.SCALE_BURST ?? 60));
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const SCOPE = 'offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All';
const TIMEOUT_MS = Number(process.env.SCALE_TIMEOUT_MS ?? 240_000);

interface Result {
	mode: string;
	executions: number;
	succeeded: number;
	failed: number;
	delivered: number;
	duplicates: number;
	tokenRequests: number;
	idpTokenRequests: number;
	storedRefreshTokenIsNewest: boolean;
	wallMs: number;
	throughputPerS: number;
}

// ----------------------------------------------------------------------------- token proxy

interface ProxiedRefresh {
	presented: string;
	issued?: string;
	status: number;
	doneAt: number;
}

/** Forwards the token endpoint to the IdP and remembers which refresh token went in and came out. */
async function startTokenProxy(target: string): Promise<{ server: Server; url: string; log: ProxiedRefresh[] }> {
	const log: ProxiedRefresh[] = [];
	const server = createServer((req: IncomingMessage, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			const body = Buffer.concat(chunks);
			const form = new URLSearchParams(body.toString('utf8'));
			const up = request(
				`${target}${req.url ?? ''}`,
				{ method: req.method, headers: { ...req.headers, host: new URL(target).host, 'content-length': String(body.length) } },
				(upRes) => {
					const out: Buffer[] = [];
					upRes.on('data', (c: Buffer) => out.push(c));
					upRes.on('end', () => {
						const text = Buffer.concat(out).toString('utf8');
						if (form.get('grant_type') === 'refresh_token') {
							let issued: string | undefined;
							try {
								const parsed: unknown = JSON.parse(text);
								if (typeof parsed === 'object' && parsed !== null && 'refresh_token' in parsed && typeof parsed.refresh_token === 'string') issued = parsed.refresh_token;
							} catch {
								issued = undefined;
							}
							log.push({ presented: form.get('refresh_token') ?? '', issued, status: upRes.statusCode ?? 0, doneAt: Date.now() });
						}
						res.writeHead(upRes.statusCode ?? 502, upRes.headers);
						res.end(text);
					});
				},
			);
			up.on('error', () => {
				res.writeHead(502);
				res.end();
			});
			up.end(body);
		});
	});
	await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
	const address = server.address();
	if (address === null || typeof address === 'string') throw new Error('token proxy did not bind a TCP port');
	return { server, url: `http://127.0.0.1:${address.port}`, log };
}

// ---------------------------------------------------------------------------------- mailbox

/** Subjects of the messages in a Maildir (new + cur), as delivered by Postfix virtual(8). */
function maildirSubjects(maildir: string, mtimes: number[] = []): string[] {
	const subjects: string[] = [];
	for (const sub of ['new', 'cur']) {
		const dir = join(maildir, sub);
		if (!existsSync(dir)) continue;
		for (const file of readdirSync(dir)) {
			const head = readFileSync(join(dir, file), 'utf8').split(/\r?\n\r?\n/, 1)[0];
			const m = /^Subject: (.*)$/im.exec(head);
			if (m) subjects.push(m[1].trim());
			if (m) mtimes.push(statSync(join(dir, file)).mtimeMs);
		}
	}
	return subjects;
}

// --------------------------------------------------------------------------------- helpers

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function storedTokenData(credentialId: string): Record<string, unknown> {
	const out = join(STATE, `export-${MODE}.json`);
	const run = spawnSync('bash', [QUEUE_SH, 'cli', MODE, 'export:credentials', `--id=${credentialId}`, '--decrypted', `--output=${out}`], {
		encoding: 'utf8',
		timeout: 120_000,
	});
	if (!existsSync(out)) throw new Error(`export:credentials failed: ${run.stderr.slice(-800)}`);
	const parsed: unknown = JSON.parse(readFileSync(out, 'utf8'));
	const first: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
	const data = typeof first === 'object' && first !== null && 'data' in first ? first.data : undefined;
	const tokenData = typeof data === 'object' && data !== null && 'oauthTokenData' in data ? data.oauthTokenData : undefined;
	if (!isRecord(tokenData)) throw new Error('exported credential has no oauthTokenData');
	return tokenData;
}

// ------------------------------------------------------------------------------------- run

async function run(): Promise<void> {
	const stack = mailStackConfig();
	const admin = new IdpAdmin(stack.idpUrl);
	const client = N8nClient.fromEnv();
	const checks: Array<[string, boolean, string]> = [];
	const check = (name: string, ok: boolean, detail: string) => {
		checks.push([name, ok, detail]);
		console.log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
	};

	await admin.reset();
	const issued = await admin.issueTokens({ clientId: stack.client.clientId, user: ALICE, scope: SCOPE });
	const proxy = await startTokenProxy(stack.idpUrl);
	const tag = `scale-${MODE}-${Date.now().toString(36)}`;
	try {
		await client.login();
		const credential = await client.createCredential({
			name: `Scale ${tag}`,
			type: 'microsoftMailOAuth2Api',
			data: {
				...stackCredentialFields(stack),
				// Through the proxy that records each refresh (which refresh token went in and came out).
				customTokenUrl: `${proxy.url}/test-tenant/oauth2/v2.0/token`,
				mailbox: ALICE,
				// Stale: n8n (and the node) must refresh before the first send.
				oauthTokenData: { ...issued, n8n_expires_at: String(Date.now() - 60_000) },
			},
		});
		const before = storedTokenData(credential.id);
		check('credential stored stale', before.refresh_token === issued.refresh_token && Number(before.n8n_expires_at) < Date.now(), `credential ${credential.id}`);

		const path = `scale-${tag}`;
		const workflow = await client.deployWorkflow({
			name: `Scale burst ${tag}`,
			nodes: [
				{
					name: 'Webhook',
					type: 'n8n-nodes-base.webhook',
					typeVersion: 2,
					position: [0, 0],
					webhookId: path,
					parameters: { httpMethod: 'POST', path, responseMode: 'onReceived' },
				},
				{
					name: 'Send Report Email',
					type: 'n8n-nodes-m365-mail.sendReportEmail',
					typeVersion: 1,
					position: [300, 0],
					parameters: {
						mode: 'perItem',
						to: BOB,
						subject: '={{ "Scale " + $json.body.tag }}',
						emailFormat: 'text',
						text: '={{ "Burst message " + $json.body.tag }}',
						options: { pacing: 'off', signature: 'none' },
					},
					credentials: { microsoftMailOAuth2Api: { id: credential.id, name: credential.name } },
				},
			],
			connections: { Webhook: { main: [[{ node: 'Send Report Email', type: 'main', index: 0 }]] } },
		});

		const t0 = Date.now();
		const answers = await Promise.all(
			Array.from({ length: BURST }, (_, i) => client.callWebhook(path, { body: { tag: `${tag}-${i}` } }).catch((e: unknown) => ({ status: 0, text: String(e), json: undefined }))),
		);
		const accepted = answers.filter((a) => a.status === 200).length;
		check('webhooks accepted', accepted === BURST, `${accepted}/${BURST} answered 200`);

		// Until every execution finished and every message is in the mailbox (or the deadline).
		const maildir = join(stack.dir, 'mail', BOB, 'Maildir');
		let executions: ExecutionSummary[] = [];
		let mine: string[] = [];
		const deadline = t0 + TIMEOUT_MS;
		for (;;) {
			executions = await client.listExecutionsPatiently({ workflowId: workflow.id, limit: 100 });
			mine = maildirSubjects(maildir).filter((s) => s.startsWith(`Scale ${tag}-`));
			const finished = executions.filter((e) => !['new', 'running', 'waiting'].includes(e.status)).length;
			if ((finished >= BURST && new Set(mine).size >= BURST) || Date.now() > deadline) break;
			await sleep(200);
		}
		const wallMs = Date.now() - t0;
		await sleep(3000); // a late duplicate would land now
		executions = await client.listExecutionsPatiently({ workflowId: workflow.id, limit: 100 });
		const allMtimes: number[] = [];
		const subjects = maildirSubjects(maildir, allMtimes);
		const mtimes = allMtimes.filter((_, i) => subjects[i].startsWith(`Scale ${tag}-`));
		mine = subjects.filter((s) => s.startsWith(`Scale ${tag}-`));
		const at = (ms: number | undefined) => (ms === undefined ? '-' : `+${((ms - t0) / 1000).toFixed(1)} s`);
		console.log(
			`timeline: refresh answered ${proxy.log.map((r) => at(r.doneAt)).join(', ') || '-'}, first delivery ${at(Math.min(...mtimes))}, last delivery ${at(Math.max(...mtimes))}`,
		);

		const succeeded = executions.filter((e) => e.status === 'success').length;
		const failedExecutions = executions.filter((e) => e.status !== 'success');
		let failureDetail = '';
		if (failedExecutions.length) {
			const detail = await client.getExecution(failedExecutions[0].id);
			failureDetail = ` first failure: ${JSON.stringify(detail.data.resultData.error ?? detail.data.resultData.runData['Send Report Email']?.[0]?.error ?? detail.status).slice(0, 400)}`;
		}
		check('executions', executions.length === BURST && succeeded === BURST, `${executions.length} executions, ${succeeded} success, ${failedExecutions.length} not${failureDetail}`);

		if (MODE === 'queue') {
			// Which worker ran what: each worker logs "Worker started execution <id>".
			const ids = new Set(executions.map((e) => e.id));
			const perWorker = ['worker1', 'worker2'].map((w) => {
				const f = join(STATE, `${w}.log`);
				const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
				return [...text.matchAll(/Worker started execution (\d+)/g)].filter((m) => ids.has(m[1])).length;
			});
			check('both workers ran executions', perWorker.every((n) => n > 0) && perWorker[0] + perWorker[1] === executions.length, `worker1 ${perWorker[0]}, worker2 ${perWorker[1]}`);
		}

		const unique = new Set(mine);
		const expected = new Set(Array.from({ length: BURST }, (_, i) => `Scale ${tag}-${i}`));
		const missing = [...expected].filter((s) => !unique.has(s));
		const duplicates = mine.length - unique.size;
		check('delivered exactly once', missing.length === 0 && duplicates === 0, `${unique.size} distinct of ${BURST}, ${duplicates} duplicates, ${missing.length} missing`);

		const idpRefreshes = (await admin.tokenRequests()).filter((r) => r.grantType === 'refresh_token');
		const refreshes = proxy.log;
		// Serialized = the refreshes form a chain: the first presents the stored (stale) refresh token and
		// each later one presents the token the previous one issued. Two executions refreshing with the
		// same token at once (no lock) would break the chain. Ideal: exactly one request.
		const ordered = [...refreshes].sort((a, b) => a.doneAt - b.doneAt);
		const chained = ordered.length > 0 && ordered.every((r, i) => r.presented === (i === 0 ? issued.refresh_token : ordered[i - 1].issued));
		check(
			'refresh serialized',
			chained && idpRefreshes.length === refreshes.length,
			`${refreshes.length} refresh request(s) through the proxy, ${idpRefreshes.length} at the IdP${refreshes.length > 1 ? (chained ? ' (one after another, each with the newest token: serialized but repeated)' : ' (two used the same refresh token: NOT serialized)') : ''}`,
		);

		const after = storedTokenData(credential.id);
		const newest = [...refreshes].filter((r) => r.status === 200 && r.issued).sort((a, b) => a.doneAt - b.doneAt).pop()?.issued;
		const storedIsNewest = newest !== undefined && after.refresh_token === newest;
		check('stored refresh token is the newest', storedIsNewest && after.refresh_token !== issued.refresh_token, storedIsNewest ? 'rotated and saved' : 'stored token differs from the last one issued');
		check('stored access token fresh', Number(after.n8n_expires_at) > Date.now(), `n8n_expires_at in ${Math.round((Number(after.n8n_expires_at) - Date.now()) / 1000)} s`);

		await client.deactivateWorkflow(workflow.id).catch(() => undefined);

		const result: Result = {
			mode: MODE,
			executions: executions.length,
			succeeded,
			failed: failedExecutions.length,
			delivered: unique.size,
			duplicates,
			tokenRequests: refreshes.length,
			idpTokenRequests: idpRefreshes.length,
			storedRefreshTokenIsNewest: storedIsNewest,
			wallMs,
			throughputPerS: Number(((succeeded / wallMs) * 1000).toFixed(2)),
		};
		writeFileSync(join(STATE, `result-${MODE}.json`), JSON.stringify({ ...result, checks }, null, 2));
		printFigures([result]);
	} finally {
		proxy.server.close();
		proxy.server.closeAllConnections();
	}
	const failed = checks.filter((c) => !c[1]).length;
	console.log(`${checks.length - failed} passed, ${failed} failed`);
	process.exitCode = failed ? 1 : 0;
}

function printFigures(results: Result[]): void {
	console.log('mode     executions  delivered  duplicates  token requests  wall time  throughput');
	for (const r of results) {
		console.log(
			`${r.mode.padEnd(8)} ${String(r.executions).padStart(10)}  ${String(r.delivered).padStart(9)}  ${String(r.duplicates).padStart(10)}  ${String(r.tokenRequests).padStart(14)}  ${(r.wallMs / 1000).toFixed(1).padStart(8)} s  ${r.throughputPerS.toFixed(2).padStart(7)}/s`,
		);
	}
}

/** What trigger-burst.ts writes (figures absent when it failed early). */
interface TriggerResult {
	burst?: number;
	executions?: number;
	distinct?: number;
	twice?: number;
	missing?: number;
	worker1?: number;
	worker2?: number;
	imapHolders?: Record<string, number>;
	wallMs?: number;
}

function summary(): void {
	const read = (mode: string): (Result & { checks: Array<[string, boolean, string]> }) | undefined => {
		const f = join(STATE, `result-${mode}.json`);
		return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined;
	};
	const results = ['queue', 'single'].map(read).filter((r) => r !== undefined);
	printFigures(results);
	const q = read('queue');
	const s = read('single');
	if (q && s) console.log(`throughput queue mode (main + 2 workers) / single process: ${(q.throughputPerS / s.throughputPerS).toFixed(2)}x`);
	// The Mail Trigger burst (trigger-burst.ts, queue mode).
	const tf = join(STATE, 'result-trigger.json');
	const t: (TriggerResult & { checks: Array<[string, boolean, string]> }) | undefined = existsSync(tf) ? JSON.parse(readFileSync(tf, 'utf8')) : undefined;
	if (t?.burst !== undefined)
		console.log(
			`trigger   ${t.burst} messages -> ${t.executions} executions (incl. probe), ${t.distinct} distinct, ${t.twice} twice, ${t.missing} missing; ` +
				`worker1 ${t.worker1}, worker2 ${t.worker2}; IMAP connections held by ${Object.keys(t.imapHolders ?? {}).join(', ') || '-'}; all started in ${((t.wallMs ?? 0) / 1000).toFixed(1)} s`,
		);
	const checks = [
		...results.flatMap((r) => r.checks.map(([n, ok]) => [`${r.mode}: ${n}`, ok] as const)),
		...(t?.checks ?? []).map(([n, ok]) => [`queue trigger: ${n}`, ok] as const),
	];
	for (const [n, ok] of checks) if (!ok) console.log(`FAIL ${n}`);
	// A missing run counts as a failure.
	const passed = checks.filter((c) => c[1]).length;
	const failed = checks.length - passed + (q ? 0 : 1) + (s ? 0 : 1) + (t ? 0 : 1);
	console.log(`${passed} passed, ${failed} failed`);
	process.exitCode = failed ? 1 : 0;
}

if (process.argv.includes('--summary')) summary();
else
	run().catch((error: unknown) => {
		console.error(error);
		console.log('0 passed, 1 failed');
		process.exitCode = 1;
	});
