/**
 * `npm run bench`: Send Report Email against n8n's built-in Send Email node (n8n-nodes-base v2,
 * password auth) and raw pooled nodemailer (the floor), in one run, against the same local SMTP
 * server, through the same n8n engine. Then token refreshes per execution and the peak memory of
 * one 100 MB attachment (streamed from n8n's filesystem binary data store).
 *
 * This node and the floor run in alternating rounds (BENCH_ROUNDS, 5); the ratio is the median of the
 * rounds' ratios (each round runs both back to back under the same load);
 * the built-in node, ten times slower, runs once.
 *
 * Env: BENCH_MESSAGES (200), BENCH_ATTACHMENT_KB (256), BENCH_BIG_MB (100), BENCH_ROUNDS (5).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';

import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';

import { startIdp } from '../../test/stack/idp';
import { CredentialStore, NODE_TYPES, credentialData, runWorkflow, useFilesystemBinaryData } from '../../test/support/engine';
import { fixtureCertificate } from '../../test/support/smtp-server';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200);
const ATTACHMENT = Number(process.env.BENCH_ATTACHMENT_KB ?? 256) * 1024;
const BIG = Number(process.env.BENCH_BIG_MB ?? 100) * 1024 * 1024;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const USER = 'alice@example.test';
const CLIENT = { clientId: 'bench-client', clientSecret: 'bench-secret-value' };

const memory = { sampling: false, baseline: 0, peak: 0 };
const gc = (globalThis as { gc?: () => void }).gc;

function randomStream(size: number): Readable {
	let left = size;
	return new Readable({
		read() {
			const n = Math.min(left, 1024 * 1024);
			left -= n;
			this.push(n > 0 ? randomBytes(n) : null);
		},
	});
}

/** Emits `count` items, each with one `size`-byte file in binary property `data`. */
class BenchItems implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Bench Items',
		name: 'benchItems',
		group: ['input'],
		version: 1,
		description: 'Benchmark input',
		defaults: { name: 'Items' },
		inputs: ['main'],
		outputs: ['main'],
		properties: [
			{ displayName: 'Count', name: 'count', type: 'number', default: 1 },
			{ displayName: 'Size', name: 'size', type: 'number', default: 1 },
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const count = this.getNodeParameter('count', 0) as number;
		const size = this.getNodeParameter('size', 0) as number;
		const out: INodeExecutionData[] = [];
		for (let i = 0; i < count; i++) {
			// Big files are written to the binary data store as a stream, so the baseline below does
			// not include a buffer of the whole file.
			const content = size > 8 * 1024 * 1024 ? randomStream(size) : randomBytes(size);
			out.push({ json: { i }, binary: { data: await this.helpers.prepareBinaryData(content, `file-${i}.bin`, 'application/octet-stream') } });
		}
		// The node under test starts next: measure from here, after the files just stored have been
		// written out (their write-back would otherwise run during the measurement).
		execFileSync('sync');
		gc?.();
		memory.baseline = process.memoryUsage().rss;
		memory.peak = memory.baseline;
		memory.sampling = true;
		return [out];
	}
}

async function startServer() {
	const { key, cert } = fixtureCertificate();
	let received = 0;
	const server = new SMTPServer({
		key,
		cert,
		authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2'],
		size: 400 * 1024 * 1024,
		logger: false,
		disableReverseLookup: true,
		onAuth: (_auth, _session, cb) => cb(null, { user: USER }),
		onData(stream, _session, cb) {
			stream.on('data', () => undefined);
			stream.on('end', () => {
				received++;
				cb();
			});
		},
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
	const address = server.server.address();
	const port = typeof address === 'object' && address ? address.port : 0;
	return { port, received: () => received, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function nodeTime(run: Awaited<ReturnType<typeof runWorkflow>>, name: string): number {
	const task = run.run.data.resultData.runData[name]?.[0];
	if (!task) throw new Error(`${name} did not run`);
	if (task.error) throw new Error(`${name} failed: ${task.error.message}`);
	return task.executionTime;
}

function workflow(node: { name: string; type: string; typeVersion: number; parameters: Record<string, unknown>; credentials: Record<string, { id: string; name: string }> }, count: number, size: number) {
	return {
		nodes: [
			{ id: 'i', name: 'Items', type: 'bench.items', typeVersion: 1, position: [0, 0] as [number, number], parameters: { count, size } },
			{ id: 'n', position: [200, 0] as [number, number], ...node, parameters: node.parameters as never },
		],
		connections: { Items: { main: [[{ node: node.name, type: 'main' as const, index: 0 }]] } },
	};
}

async function main() {
	await useFilesystemBinaryData();
	NODE_TYPES['bench.items'] = new BenchItems();
	let builtinAvailable = process.env.BENCH_BUILTIN !== '0'; // BENCH_BUILTIN=0 skips the slow built-in node (profiling)
	try {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const mod = require('n8n-nodes-base/dist/nodes/EmailSend/EmailSend.node') as { EmailSend: new () => { nodeVersions: Record<number, INodeType> } };
		const versioned = new mod.EmailSend();
		NODE_TYPES['n8n-nodes-base.emailSend'] = versioned.nodeVersions[2.1] ?? versioned.nodeVersions[2];
	} catch {
		builtinAvailable = false;
	}

	const idp = await startIdp();
	idp.addClient(CLIENT);
	const server = await startServer();
	const tokens = () => idp.issueTokens({ clientId: CLIENT.clientId, user: USER, scope: 'offline_access https://outlook.office.com/SMTP.Send' });
	const store = new CredentialStore();
	const ours = (expiresAt: number) =>
		store.add({
			id: 'm365',
			name: 'M365',
			type: 'microsoftMailOAuth2Api',
			data: credentialData({ clientId: CLIENT.clientId, clientSecret: CLIENT.clientSecret, customTokenUrl: idp.tokenUrl(), customAuthUrl: idp.authorizeUrl(), smtpPort: server.port, customCa: fixtureCertificate().cert, oauthTokenData: { ...tokens(), n8n_expires_at: String(expiresAt) } }),
		});
	store.add({ id: 'smtp', name: 'SMTP', type: 'smtp', data: { user: USER, password: 'bench-password', host: '127.0.0.1', port: server.port, secure: false, disableStartTls: false } });

	const sendReport = (extra: Record<string, unknown> = {}) => ({
		name: 'Send Report Email',
		type: 'n8n-nodes-m365-mail.sendReportEmail',
		typeVersion: 1,
		parameters: { mode: 'perItem', to: 'bob@example.test', subject: 'Bench', emailFormat: 'text', text: 'Benchmark message', attachments: 'data', options: { signature: 'none', pacing: 'off', ...extra } },
		credentials: { microsoftMailOAuth2Api: { id: 'm365', name: 'M365' } },
	});

	// Warm-up (JIT, TLS session code paths), not measured.
	ours(Date.now() + 3600_000);
	await runWorkflow({ store, ...workflow(sendReport(), 5, 1024) });

	// 1 and 2, in alternating rounds so that both see the same machine load; medians are compared.
	// This node starts each round with an expired token: one refresh per execution is expected.
	// The floor is raw pooled nodemailer doing the same job as one execution of the node: open a
	// pool of the same 3 connections (TLS, XOAUTH2 with the same token), send the messages with one
	// in flight per connection (what the pool is built for), close. Its attachments are already in
	// memory (the node streams them from n8n's binary data store).
	const file = randomBytes(ATTACHMENT);
	const sendAll = async (count: number) => {
		const transport = nodemailer.createTransport({ pool: true, maxConnections: 3, host: '127.0.0.1', port: server.port, secure: false, requireTLS: true, tls: { ca: fixtureCertificate().cert, servername: 'localhost' }, auth: { type: 'OAuth2', user: USER, accessToken: tokens().access_token } });
		let next = 0;
		const worker = async () => {
			while (next < count) {
				const i = next++;
				await transport.sendMail({ from: USER, to: 'bob@example.test', subject: 'Bench', text: 'Benchmark message', attachments: [{ filename: `file-${i}.bin`, content: file }] });
			}
		};
		await Promise.all([worker(), worker(), worker()]);
		transport.close();
	};
	await sendAll(5);
	const oursRounds: number[] = [];
	const floorRounds: number[] = [];
	let refreshes = 0;
	for (let round = 0; round < ROUNDS; round++) {
		ours(Date.now() - 1000);
		idp.reset();
		const before = server.received();
		const oursRun = await runWorkflow({ store, ...workflow(sendReport(), MESSAGES, ATTACHMENT) });
		oursRounds.push(nodeTime(oursRun, 'Send Report Email'));
		refreshes = Math.max(refreshes, idp.tokenRequests.length);
		if (server.received() - before !== MESSAGES) throw new Error(`expected ${MESSAGES} messages, server got ${server.received() - before}`);
		// n8n prunes an execution's binary data with it; here every round starts from an empty store.
		rmSync(path.join(process.env.N8N_USER_FOLDER ?? '/nonexistent', '.n8n', 'storage'), { recursive: true, force: true });

		const t0 = performance.now();
		await sendAll(MESSAGES);
		floorRounds.push(performance.now() - t0);
	}
	const oursMs = median(oursRounds);
	const floorMs = median(floorRounds);
	// Each round runs both back to back under the same load: compare them pairwise.
	const floorRatio = median(oursRounds.map((ms, i) => ms / floorRounds[i]));

	// 3. n8n's built-in Send Email node (v2), password auth, same engine and input.
	let builtinMs: number | undefined;
	if (builtinAvailable) {
		const builtin = await runWorkflow({
			store,
			...workflow({
				name: 'Send Email',
				type: 'n8n-nodes-base.emailSend',
				typeVersion: 2.1,
				parameters: { operation: 'send', fromEmail: USER, toEmail: 'bob@example.test', subject: 'Bench', emailFormat: 'text', text: 'Benchmark message', options: { attachments: 'data', allowUnauthorizedCerts: true, appendAttribution: false } },
				credentials: { smtp: { id: 'smtp', name: 'SMTP' } },
			}, MESSAGES, ATTACHMENT),
		});
		builtinMs = nodeTime(builtin, 'Send Email');
	}

	// 4. Peak memory for one big attachment, streamed from the filesystem binary data store.
	ours(Date.now() + 3600_000);
	const timer = setInterval(() => {
		if (memory.sampling) memory.peak = Math.max(memory.peak, process.memoryUsage().rss);
	}, 5);
	const big = await runWorkflow({ store, ...workflow(sendReport({ maxMessageSizeMb: 200 }), 1, BIG) });
	memory.sampling = false;
	clearInterval(timer);
	nodeTime(big, 'Send Report Email');
	const peakMb = (memory.peak - memory.baseline) / 1024 / 1024;

	await server.stop();
	await idp.stop();

	const row = (name: string, ms: number | undefined) => `${name.padEnd(42)} ${ms === undefined ? 'n/a'.padStart(9) : `${ms.toFixed(0).padStart(7)} ms`}`;
	const mb = (ATTACHMENT / 1024).toFixed(0);
	console.log(`\n${MESSAGES} messages, ${mb} KB attachment each, one local SMTP server (STARTTLS); this node and the floor: medians of ${ROUNDS} alternating rounds\n`);
	console.log(row('Send Report Email (this package, XOAUTH2)', oursMs));
	console.log(row('Send Email v2 (n8n-nodes-base, password)', builtinMs));
	console.log(row('raw pooled nodemailer (floor)', floorMs));
	console.log('');
	const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');
	if (builtinMs !== undefined) console.log(`built-in / this node   ${(builtinMs / oursMs).toFixed(2)}x   (target >= 3x)      ${verdict(builtinMs / oursMs >= 3)}`);
	else console.log(`built-in / this node   n/a     (${process.env.BENCH_BUILTIN === '0' ? 'skipped: BENCH_BUILTIN=0' : 'n8n-nodes-base not installed'})`);
	const perRound = oursRounds.map((ms, i) => `${(ms / floorRounds[i]).toFixed(2)}${process.env.BENCH_VERBOSE ? ` (${ms.toFixed(0)}/${floorRounds[i].toFixed(0)} ms)` : ""}`).join(', ');
	console.log(`this node / floor      ${floorRatio.toFixed(2)}x   (target <= 1.25x)   ${verdict(floorRatio <= 1.25)}   (median of the rounds: ${perRound})`);
	console.log(`token refreshes        ${refreshes}       (most in one execution; target <= 1, token expired at the start of each)   ${verdict(refreshes <= 1)}`);
	console.log(`peak memory, ${(BIG / 1024 / 1024).toFixed(0)} MB attachment: +${peakMb.toFixed(1)} MB over baseline (target <= 100 MB)   ${verdict(peakMb <= 100)}${gc ? '' : '  (run with --expose-gc for a steadier baseline)'}`);
}

main().then(
	() => process.exit(0),
	(e: unknown) => {
		console.error(e);
		process.exit(1);
	},
);
