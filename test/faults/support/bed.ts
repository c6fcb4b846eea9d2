/** The servers a section needs, built from the engine fixtures (no copies of their parameters). */
import type { IDataObject } from 'n8n-workflow';

import { CLIENT, seededToken, startBed, storeFor, type Bed } from '../../engine/SendReportEmail/fixture';
import type { CredentialStore } from '../../support/engine';
import type { Area } from './ledger';
import { ledger } from './ledger';
import { tally } from './run';

export { CLIENT, seededToken, startBed, storeFor, type Bed };

/** A token n8n considers expired: the node must refresh it first. */
export function staleToken(bed: Bed): IDataObject {
	return { ...seededToken(bed.idp), n8n_expires_at: String(Date.now() - 60_000) };
}

export function watched(bed: Bed, data: IDataObject = {}): CredentialStore {
	return ledger.watch(storeFor(bed, data));
}

/**
 * Runs one case: records a row with the server's counts whether the assertions pass or not (a
 * failing row fails the test and the totals).
 */
export async function row(
	bed: Bed | undefined,
	meta: { area: Area; kind: 'fault' | 'input'; tried: string; expected: number; refused?: boolean },
	body: () => Promise<string>,
	settleMs = 0,
): Promise<void> {
	let outcome = 'threw';
	let passed = false;
	try {
		outcome = await body();
		passed = true;
	} catch (e) {
		outcome = `FAILED: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
		throw e;
	} finally {
		if (settleMs) await new Promise((r) => setTimeout(r, settleMs));
		const counts = bed ? tally(bed.smtp.messages) : { delivered: meta.expected, duplicates: 0 };
		ledger.record({ ...meta, outcome, ...counts, passed });
	}
}
