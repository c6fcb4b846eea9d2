/**
 * Failures the user must act on, remembered per trigger (workflow, node, folder) in this n8n process
 * from the moment they are reported until the trigger connects again.
 *
 * Why it lives outside the watcher: n8n answers a trigger's emitError by closing the trigger and
 * activating the workflow again (n8n 2.x ActiveWorkflowManager: first after 1 s, then doubling up to
 * 24 h while activation keeps failing). The new activation is a new watcher; this tells it that the
 * failure was reported already (so it keeps retrying by itself, backoff capped at 5 minutes, instead
 * of reporting again or letting n8n's wait grow to a day) and where the trigger was: n8n re-activates
 * with the workflow data it loaded before, whose static data can predate the last saved position.
 */
import type { Cursor } from './cursor';

export interface FailureEpisode {
	/** Catalogue code of the failure last reported to n8n. */
	code: string;
	/** Failed connection attempts so far (drives the backoff). */
	failures: number;
	/** The last position n8n had confirmed when the failure was reported. */
	cursor?: Cursor;
	/** When it was last handed to n8n (emitError, or an activation that threw). */
	handedOverAt: number;
	/** Marks the static data of the activation that reported it (see `markReported`). */
	mark: number;
}

/**
 * n8n re-activates within seconds of a report. An episode older than this at activation was not
 * followed by n8n's re-activation (the workflow was deactivated or changed meanwhile): the new
 * activation starts afresh and reports what it finds.
 */
export const HANDOVER_WINDOW_MS = 120_000;

const episodes = new Map<string, FailureEpisode>();

let marks = 0;

/**
 * n8n re-activates with the workflow data of the failed activation, so the node's static data seen
 * then is the same object (n8n 2.41) or a new wrapper around it (n8n 2.0); a property set on it
 * reads back either way. Not enumerable: n8n persists static data as JSON, which leaves it out, so
 * static data loaded afresh from the database never carries it.
 */
const REPORTED = Symbol.for('n8n-nodes-m365-mail.reportedFailure');

function markReported(staticData: object, mark: number): void {
	Object.defineProperty(staticData, REPORTED, { value: mark, configurable: true, enumerable: false, writable: true });
}

function markOf(staticData: object): unknown {
	return Reflect.get(staticData, REPORTED);
}

export function episodeOf(key: string): FailureEpisode | undefined {
	return episodes.get(key);
}

/**
 * The episode a new activation continues, if n8n is re-activating after a report: its static data
 * carries the report's mark, or is empty (n8n's database held none when the failed activation was
 * loaded: a workflow's first activation). Static data loaded afresh (the workflow was deactivated
 * and activated again, n8n restarted) is another activation: it starts afresh and shows what it finds.
 */
export function handedOver(key: string, staticData: object, hasSavedPosition: boolean, now = Date.now()): FailureEpisode | undefined {
	const e = episodes.get(key);
	if (!e) return undefined;
	if (now - e.handedOverAt > HANDOVER_WINDOW_MS || (markOf(staticData) !== e.mark && hasSavedPosition)) {
		episodes.delete(key);
		return undefined;
	}
	return e;
}

/** Remembers a failure handed to n8n and marks the reporting activation's static data with it. */
export function report(key: string, episode: Omit<FailureEpisode, 'handedOverAt' | 'mark'>, staticData: object, now = Date.now()): void {
	const mark = ++marks;
	markReported(staticData, mark);
	episodes.set(key, { ...episode, handedOverAt: now, mark });
}

export function endEpisode(key: string): FailureEpisode | undefined {
	const e = episodes.get(key);
	episodes.delete(key);
	return e;
}
