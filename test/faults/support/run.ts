/**
 * Runs the nodes through n8n's real WorkflowExecute (test/support/engine.ts) and feeds everything
 * a user could see into the ledger's secret scan.
 */
import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { runVerify, type VerifyParameters } from '../../engine/VerifyMailbox/fixture';
import { NODE, sendWorkflow, type Item } from '../../engine/SendReportEmail/fixture';
import { runWorkflow, type CredentialStore } from '../../support/engine';
import type { ReceivedMessage } from '../../support/smtp-server';
import { ledger } from './ledger';

export { NODE, type Item };

export interface SendOutcome {
	items: Array<{ json: IDataObject; pairedItem?: unknown }>;
	error?: Error & { description?: string | null };
}

export async function send(store: CredentialStore, items: Item[], parameters: INodeParameters, opts: { continueOnFail?: boolean } = {}): Promise<SendOutcome> {
	ledger.watch(store);
	const { nodes, connections } = sendWorkflow(items, parameters, opts);
	const result = await runWorkflow({ nodes, connections, store });
	ledger.see(result.run.data.resultData);
	const error = result.error(NODE);
	if (error) {
		ledger.see(error.message, error.description, error, error.stack);
		return { items: [], error };
	}
	return { items: result.output(NODE) as SendOutcome['items'] };
}

export async function verify(store: CredentialStore, p: VerifyParameters) {
	ledger.watch(store);
	const run = await runVerify(store, p);
	ledger.see(run.result.run.data.resultData);
	const error = run.result.error('Verify');
	if (error) ledger.see(error.message, error.description, error, error.stack);
	return run;
}

export function messageIdOf(m: ReceivedMessage): string {
	const head = m.raw.toString('utf8').split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
	return /^Message-ID:\s*(<[^>]+>)/im.exec(head)?.[1] ?? `no-id-${m.session}-${m.at}`;
}

/** Distinct messages and extra copies of the same Message-ID on the server. */
export function tally(messages: ReceivedMessage[]): { delivered: number; duplicates: number } {
	const ids = messages.map(messageIdOf);
	const distinct = new Set(ids).size;
	return { delivered: distinct, duplicates: ids.length - distinct };
}

/** `code: message` of a failed item, or of the node error. */
export function describeOutcome(out: SendOutcome, index = 0): string {
	if (out.error) return `error: ${out.error.message}`;
	const j = out.items[index]?.json ?? {};
	if (j.code) return `${String(j.code)}: ${String(j.error)}`;
	return `sent (attempts ${String(j.attempts ?? '?')})`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
