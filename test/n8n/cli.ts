// Test-side wrappers around test/n8n/n8n.sh: install/start/stop the real n8n (for a jest global
// setup), and its CLI next to the running server (import, execute, export --decrypted).
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const N8N_SCRIPT = join(__dirname, 'n8n.sh');

export interface ScriptResult {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
}

/** Runs `test/n8n/n8n.sh <args>`; never throws on a non-zero exit (see `check`). */
export async function n8nScript(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ScriptResult> {
	return await new Promise<ScriptResult>((resolve, reject) => {
		const child = spawn('bash', [N8N_SCRIPT, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
		const out: Buffer[] = [];
		const err: Buffer[] = [];
		child.stdout.on('data', (b: Buffer) => out.push(b));
		child.stderr.on('data', (b: Buffer) => err.push(b));
		child.on('error', reject);
		child.on('close', (code, signal) =>
			resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
		);
	});
}

function check(what: string, r: ScriptResult): ScriptResult {
	if (r.code !== 0) {
		throw new Error(`${what} failed (exit ${r.code ?? r.signal}):\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`);
	}
	return r;
}

/** The n8n release n8n.sh runs (N8N_E2E_VERSION, default the newest in versions.sh). */
export const N8N_VERSION = execFileSync('bash', [N8N_SCRIPT, 'version'], { encoding: 'utf8' }).trim();

/** Whether that release is `min` or newer (x.y.z). */
export function n8nAtLeast(min: string): boolean {
	const [a, b] = [N8N_VERSION, min].map((v) => v.split('.').map(Number));
	for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
	return true;
}

export async function installN8n(): Promise<void> {
	check('n8n.sh install', await n8nScript(['install']));
}

/** Fresh state dir, the tarball installed as a community package, server up and owner able to log in. */
export async function startN8n(options: { packageTarball?: string } = {}): Promise<void> {
	const args = ['start', ...(options.packageTarball ? ['--package', options.packageTarball] : [])];
	check('n8n.sh start', await n8nScript(args));
}

/** Starts n8n again on the state of the previous start (database, encryption key, package): a restart after `stopN8n`. */
export async function restartN8n(): Promise<void> {
	check('n8n.sh start --keep-state', await n8nScript(['start', '--keep-state']));
}

export async function stopN8n(): Promise<void> {
	check('n8n.sh stop', await n8nScript(['stop']));
}

/** The n8n CLI with the server's env (own task broker port); the raw result. */
export async function n8nCli(args: string[]): Promise<ScriptResult> {
	return await n8nScript(['cli', ...args]);
}

/**
 * The JSON document in CLI output: n8n prints log lines (task broker, license SDK) before it.
 * Tries each line that opens an object or array, first to last.
 */
export function extractJson(stdout: string): unknown {
	const lines = stdout.split('\n');
	for (let i = 0; i < lines.length; i++) {
		if (!/^\s*[[{]/.test(lines[i])) continue;
		try {
			return JSON.parse(lines.slice(i).join('\n'));
		} catch {
			// not the start of the document; keep looking
		}
	}
	throw new Error(`no JSON document in n8n CLI output:\n${stdout.slice(0, 2000)}`);
}

async function withJsonFile<T>(content: unknown, run: (file: string) => Promise<T>): Promise<T> {
	const dir = mkdtempSync(join(tmpdir(), 'n8n-e2e-'));
	const file = join(dir, 'input.json');
	writeFileSync(file, JSON.stringify(content));
	try {
		return await run(file);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

/** `n8n import:credentials`: plain `data` is encrypted on import; give each an `id`. */
export async function importCredentials(credentials: Array<Record<string, unknown>>): Promise<void> {
	await withJsonFile(credentials, async (file) => {
		check('import:credentials', await n8nCli(['import:credentials', `--input=${file}`]));
	});
}

/** `n8n import:workflow`; give each workflow an `id` to run it with `executeWorkflow`. */
export async function importWorkflows(workflows: Array<Record<string, unknown>>): Promise<void> {
	// As n8n exports them: n8n 2.0's import needs `active` and `versionId` (NOT NULL columns).
	const complete = workflows.map((w) => ({ active: false, versionId: randomUUID(), ...w }));
	await withJsonFile(complete, async (file) => {
		check('import:workflow', await n8nCli(['import:workflow', `--input=${file}`]));
	});
}

/** What `n8n export:credentials --id --decrypted` shows: the stored data, tokens included. */
export async function exportCredential(id: string): Promise<Record<string, unknown>> {
	const r = check('export:credentials', await n8nCli(['export:credentials', `--id=${id}`, '--decrypted']));
	const list = extractJson(r.stdout);
	const first: unknown = Array.isArray(list) ? list[0] : undefined;
	if (typeof first !== 'object' || first === null) throw new Error(`credential ${id} not exported`);
	return { ...first };
}

export interface CliExecution {
	code: number | null;
	signal: NodeJS.Signals | null;
	/** The run as `--rawOutput` printed it (`{ data: { resultData: { runData } } }`), if it printed one. */
	result: unknown;
	stdout: string;
	stderr: string;
}

/**
 * `n8n execute --id=<id> --rawOutput` (the workflow needs a Manual Trigger). On Node 24 the CLI
 * sometimes crashes (SIGSEGV, exit 139) while exiting after printing a complete result, so judge
 * the run by `result`, not by the exit code.
 */
export async function executeWorkflow(id: string): Promise<CliExecution> {
	const r = await n8nCli(['execute', `--id=${id}`, '--rawOutput']);
	let result: unknown;
	try {
		result = extractJson(r.stdout);
	} catch {
		result = undefined;
	}
	return { ...r, result };
}
