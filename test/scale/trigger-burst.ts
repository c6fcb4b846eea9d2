/**
 * The trigger burst in queue mode: an active workflow Microsoft 365 Mail Trigger -> No Operation on
 * the private stack's Dovecot (alice's INBOX, XOAUTH2, IDLE), N messages handed to Postfix at once,
 * then checked on the servers and in n8n:
 *   - every Message-ID started exactly one execution (REST executions list + each execution's
 *     trigger output), all `success`, none for anything else;
 *   - which process ran the executions (each worker logs "Worker started execution <id>");
 *   - where the trigger itself ran: the IMAP connections to Dovecot, sampled with `ss -tnp` while
 *     the burst is started, belong to the main process only (not to a worker).
 * Writes <state>/result-trigger.json (its checks count in `burst.ts --summary`).
 *
 *   node --import tsx test/scale/trigger-burst.ts     (env from queue.sh env queue + the private stack's ports)
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { createTransport } from 'nodemailer';

import { N8nClient, nodeOutput, type ExecutionSummary } from '../n8n/client';
import { IdpAdmin, mailStackConfig, stackCredentialFields } from '../stack/mailstack';

const REPO = resolve(__dirname, '..', '..');
const STATE = process.env.SCALE_STATE_DIR ?? join(REPO, '.stack', 'scale');
// One page of n8n's executions list (100) holds the burst and the probes.
const BURST = Math.min(90, Number(process.env.SCALE_TRIGGER_BURST ?? 60));
const ALICE = 'alice@example.test';
const SCOPE = 'offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All';
const TIMEOUT_MS = Number(process.env.SCALE_TIMEOUT_MS ?? 240_000);
const TRIGGER = 'Microsoft 365 Mail Trigger';
const PROCESSES = ['main', 'worker1', 'worker2'] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Mail {
	messageId: string;
	subject: string;
}

function pidOf(name: string): number | undefined {
	const f = join(STATE, `${name}.pid`);
	return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : undefined;
}

/** The n8n process (main, worker1, worker2) a PID belongs to: itself or one of its ancestors. */
function processName(pid: number, roots: Map<number, string>): string {
	for (let p = pid, hops = 0; p > 1 && hops < 20; hops++) {
		const name = roots.get(p);
		if (name) return name;
		let stat = '';
		try {
			stat = readFileSync(`/proc/${p}/stat`, 'utf8');
		} catch {
			return `pid ${pid} (gone)`;
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
		p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
	}
	return `pid ${pid} (not n8n)`;
}

/** Client sockets connected to the given port (its local address and the PID holding it). */
function imapClients(port: number): Array<{ socket: string; pid: number }> {
	const out = spawnSync('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
	// "Recv-Q Send-Q Local:Port Peer:Port users:(("node",pid=123,fd=45))"
	return out
		.split('\n')
		.map((line) => ({ socket: line.trim().split(/\s+/)[2] ?? '', pid: Number(/pid=(\d+)/.exec(line)?.[1]) }))
		.filter((c) => c.socket && Number.isFinite(c.pid));
}

async function deliver(port: number, list: Mail[]): Promise<void> {
	const transport = createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 8 });
	try {
		await Promise.all(
			list.map(async (m) => {
				const info = await transport.sendMail({ from: 'sender@example.test', to: ALICE, subject: m.subject, text: `body of ${m.subject}`, messageId: `<${m.messageId}>` });
				if (!info.accepted.includes(ALICE)) throw new Error(`Postfix did not accept ${m.messageId}`);
			}),
		);
	} finally {
		transport.close();
	}
}

/** The Message-IDs each finished execution started for (its trigger output), read once per execution. */
async function startedIds(client: N8nClient, workflowId: string, seen: Map<string, string[]>): Promise<{ executions: ExecutionSummary[]; unfinished: number }> {
	const executions = await client.listExecutionsPatiently({ workflowId, limit: 100 });
	let unfinished = 0;
	for (const e of executions) {
		if (['new', 'running', 'waiting'].includes(e.status)) {
			unfinished++;
			continue;
		}
		if (!seen.has(e.id)) seen.set(e.id, nodeOutput(await client.getExecution(e.id), TRIGGER).map((i) => String(i.messageId).replace(/^<|>$/g, '')));
	}
	return { executions, unfinished };
}

async function run(): Promise<void> {
	const stack = mailStackConfig();
	const admin = new IdpAdmin(stack.idpUrl);
	const client = N8nClient.fromEnv();
	const checks: Array<[string, boolean, string]> = [];
	const check = (name: string, ok: boolean, detail: string) => {
		checks.push([name, ok, detail]);
		console.log(`${ok ? 'PASS' : 'FAIL'} [trigger burst] ${name}: ${detail}`);
	};
	const roots = new Map<number, string>();
	for (const name of PROCESSES) {
		const pid = pidOf(name);
		if (pid) roots.set(pid, name);
	}
	const tag = `trg-${randomUUID().slice(0, 8)}`;
	await client.login();
	const tokens = await admin.issueTokens({ clientId: stack.client.clientId, user: ALICE, scope: SCOPE });
	const credential = await client.createCredential({
		name: `Scale trigger ${tag}`,
		type: 'microsoftMailOAuth2Api',
		data: { ...stackCredentialFields(stack), mailbox: ALICE, oauthTokenData: { ...tokens, n8n_expires_at: String(Date.now() + 3600_000) } },
	});
	const workflow = await client.deployWorkflow({
		name: `Scale trigger burst ${tag}`,
		nodes: [
			{
				id: randomUUID(),
				name: TRIGGER,
				type: 'n8n-nodes-m365-mail.mailTrigger',
				typeVersion: 1,
				position: [0, 0],
				credentials: { microsoftMailOAuth2Api: { id: credential.id, name: credential.name } },
				// Subject filter: only this run's mail in alice's shared INBOX counts.
				parameters: { folder: { __rl: true, mode: 'path', value: 'INBOX' }, filters: { subject: tag } },
			},
			{ id: randomUUID(), name: 'No Operation', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [220, 0], parameters: {} },
		],
		connections: { [TRIGGER]: { main: [[{ node: 'No Operation', type: 'main', index: 0 }]] } },
		settings: { saveDataSuccessExecution: 'all', saveDataErrorExecution: 'all' },
	});
	check('workflow active', workflow.active, `workflow ${workflow.id}`);

	// Who holds IMAP connections to Dovecot, sampled from activation to the end of the burst.
	const holders = new Map<string, number>();
	const sockets = new Set<string>();
	let samples = 0;
	let sampling = true;
	const sampler = (async () => {
		while (sampling) {
			samples++;
			for (const { socket, pid } of imapClients(stack.ports.m365Imaps)) {
				const name = processName(pid, roots);
				holders.set(name, (holders.get(name) ?? 0) + 1);
				sockets.add(socket);
			}
			await sleep(500);
		}
	})();

	const seen = new Map<string, string[]>();
	try {
		// "New messages only": a probe delivered before the trigger read UIDNEXT never starts; send
		// probes until one has started, then the trigger is listening.
		const probeDeadline = Date.now() + 120_000;
		let listening = false;
		for (let n = 0; !listening && Date.now() < probeDeadline; n++) {
			await deliver(stack.ports.smtpRelay, [{ messageId: `${tag}-probe${n}@scale.example.test`, subject: `${tag} probe ${n}` }]);
			const until = Date.now() + 15_000;
			while (!listening && Date.now() < until) {
				await startedIds(client, workflow.id, seen);
				listening = [...seen.values()].flat().some((id) => id.startsWith(`${tag}-probe`));
				if (!listening) await sleep(1000);
			}
		}
		check('listening', listening, listening ? 'a probe message started an execution' : 'no probe started an execution in 120 s');
		if (!listening) throw new Error('the trigger never started');

		const batch: Mail[] = Array.from({ length: BURST }, (_, i) => ({ messageId: `${tag}-${i}@scale.example.test`, subject: `${tag} #${i}` }));
		const t0 = Date.now();
		await deliver(stack.ports.smtpRelay, batch);
		const handedOverMs = Date.now() - t0;
		const expected = new Set(batch.map((m) => m.messageId));
		let executions: ExecutionSummary[] = [];
		for (;;) {
			const now = await startedIds(client, workflow.id, seen);
			executions = now.executions;
			const got = new Set([...seen.values()].flat());
			if (([...expected].every((id) => got.has(id)) && now.unfinished === 0) || Date.now() > t0 + TIMEOUT_MS) break;
			await sleep(1000);
		}
		const wallMs = Date.now() - t0;
		// A late duplicate would show now.
		await sleep(10_000);
		executions = (await startedIds(client, workflow.id, seen)).executions;
		sampling = false;
		await sampler;

		const ids = [...seen.values()].flat().filter((id) => !id.startsWith(`${tag}-probe`));
		const counts = new Map<string, number>();
		for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
		const missing = [...expected].filter((id) => !counts.has(id));
		const twice = [...counts.entries()].filter(([, c]) => c > 1).map(([id]) => id);
		const strangers = [...counts.keys()].filter((id) => !expected.has(id));
		check('each message started exactly once', missing.length === 0 && twice.length === 0 && strangers.length === 0, `${counts.size} distinct of ${BURST}, ${twice.length} started twice, ${missing.length} missing, ${strangers.length} unexpected`);
		const oneItem = [...seen.values()].every((items) => items.length === 1);
		const succeeded = executions.filter((e) => e.status === 'success').length;
		check('executions all success', succeeded === executions.length && oneItem, `${executions.length} executions (burst + probe), ${succeeded} success, ${oneItem ? 'one item each' : 'some with more or fewer than one item'}`);

		const executionIds = new Set(executions.map((e) => e.id));
		const ranBy = (name: string) => {
			const f = join(STATE, `${name}.log`);
			const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
			return [...text.matchAll(/Worker started execution (\d+)/g)].filter((m) => executionIds.has(m[1])).length;
		};
		const perWorker = [ranBy('worker1'), ranBy('worker2')];
		check('executions ran on the workers', perWorker[0] + perWorker[1] === executions.length, `worker1 ${perWorker[0]}, worker2 ${perWorker[1]} of ${executions.length}`);

		const holderText = [...holders.entries()].map(([n, c]) => `${n} ${c}`).join(', ') || 'none seen';
		const onlyMain = holders.size === 1 && holders.has('main');
		check(
			'the trigger ran on the main only',
			onlyMain,
			`${samples} samples of the IMAP connections to Dovecot :${stack.ports.m365Imaps}: seen held by ${holderText} (times); ${sockets.size} distinct client socket(s)`,
		);

		const figures = { burst: BURST, executions: executions.length, distinct: counts.size, twice: twice.length, missing: missing.length, worker1: perWorker[0], worker2: perWorker[1], imapHolders: Object.fromEntries(holders), imapSockets: sockets.size, samples, handedOverMs, wallMs };
		console.log(
			`trigger burst: ${BURST} messages handed to Postfix in ${(handedOverMs / 1000).toFixed(1)} s, all started in ${(wallMs / 1000).toFixed(1)} s; ` +
				`executions ${executions.length} (worker1 ${perWorker[0]}, worker2 ${perWorker[1]}); IMAP connections held by: ${holderText} in ${samples} samples, ${sockets.size} distinct socket(s)`,
		);
		writeFileSync(join(STATE, 'result-trigger.json'), JSON.stringify({ ...figures, checks }, null, 2));
	} finally {
		sampling = false;
		await sampler;
		await client.deactivateWorkflow(workflow.id).catch(() => undefined);
		if (!existsSync(join(STATE, 'result-trigger.json'))) writeFileSync(join(STATE, 'result-trigger.json'), JSON.stringify({ checks }, null, 2));
	}
	const failed = checks.filter((c) => !c[1]).length;
	console.log(`trigger: ${checks.length - failed} passed, ${failed} failed`);
	process.exitCode = failed ? 1 : 0;
}

run().catch((error: unknown) => {
	console.error(error);
	console.log('trigger: 0 passed, 1 failed');
	process.exitCode = 1;
});
