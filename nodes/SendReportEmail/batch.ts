/** How a batch of emails runs: a few at a time, stopping on the first failure, and what it reports then. */
import type { IExecuteFunctions } from 'n8n-workflow';

/** How far a batch got before it failed, for the error (only when there was more than one email). */
export function batchReport(total: number, sentIds: Map<number, string>): { messageSuffix?: string; notes?: string[] } {
	if (total < 2) return {};
	const sent = [...sentIds.entries()].sort(([a], [b]) => a - b);
	if (sent.length === 0) return { messageSuffix: `(None of the ${total} emails was sent.)` };
	return {
		messageSuffix: `(${sent.length} of ${total} emails were sent before this failure.)`,
		notes: [
			`Sent before this failure (${sent.length} of ${total}): ${sent.map(([i, id]) => `item ${i + 1} ${id}`).join(', ')}. A retry of this node in the same execution (Retry On Fail) does not send them again; running the workflow again does.`,
		],
	};
}

/** Which run of this node in the execution this is (a loop runs a node more than once). */
export function runIndexOf(ctx: IExecuteFunctions): number {
	const value: unknown = ctx.getWorkflowDataProxy(0).$runIndex;
	return typeof value === 'number' ? value : 0;
}

/** Runs `work` over `jobs` with at most `limit` at a time; a thrown error or `stopped()` stops new ones. */
export async function runConcurrently<T>(jobs: T[], limit: number, work: (job: T) => Promise<void>, stopped: () => boolean = () => false): Promise<void> {
	let next = 0;
	let failed: { e: unknown } | undefined;
	const worker = async () => {
		while (!failed && !stopped() && next < jobs.length) {
			const job = jobs[next++];
			try {
				await work(job);
			} catch (e) {
				failed ??= { e };
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
	if (failed) throw failed.e;
}
