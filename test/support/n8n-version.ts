/**
 * What the n8n-core under test does, by its version: the `engine` jest project runs the current one
 * (devDependency), `engine-oldest` the one of the oldest supported n8n (scripts/engine-oldest.sh).
 * A test whose expectation depends on n8n asserts the behaviour of the n8n it runs on, both ways.
 */
import { readFileSync } from 'node:fs';

export const N8N_CORE_VERSION = (JSON.parse(readFileSync(require.resolve('n8n-core/package.json'), 'utf8')) as { version: string }).version;

function atLeast(min: string): boolean {
	const [a, b] = [N8N_CORE_VERSION, min].map((v) => v.split('.').map(Number));
	for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
	return true;
}

/**
 * n8n 2.33+ records when an OAuth2 token expires (`n8n_expires_at`) when it stores one. Before, it
 * records no expiry on a refresh, so the nodes cannot tell a fresh token from a stale one and get a
 * new one at the start of every execution (README, "Install in n8n").
 */
export const N8N_RECORDS_TOKEN_EXPIRY = atLeast('2.33.0');

/** n8n 2.6+ records a stored binary's size on it (`bytes`); before, the node reads it from the store. */
export const N8N_RECORDS_BINARY_SIZE = atLeast('2.6.0');

/**
 * n8n 2.27+ turns a refused refresh (`invalid_grant`) into "needs to be reconnected" and drops the
 * token endpoint's answer with its AADSTS code. Before, the answer reaches the node, which then gives
 * the advice for that exact AADSTS code.
 */
export const N8N_HIDES_INVALID_GRANT_DETAIL = atLeast('2.27.0');
