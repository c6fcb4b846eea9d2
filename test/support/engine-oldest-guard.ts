/**
 * setupFiles of the `engine-oldest` jest project: the run is only worth something if n8n-workflow,
 * n8n-core and n8n-nodes-base really resolve to the old release scripts/engine-oldest.sh installed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.N8N_ENGINE_DIR;
const expected = process.env.N8N_ENGINE_VERSION;
if (!dir || !expected) {
	throw new Error('The engine-oldest project needs N8N_ENGINE_DIR and N8N_ENGINE_VERSION: run it with `bash scripts/engine-oldest.sh`.');
}
for (const name of ['n8n-workflow', 'n8n-core', 'n8n-nodes-base']) {
	const resolved = require.resolve(`${name}/package.json`);
	const { version } = JSON.parse(readFileSync(resolved, 'utf8')) as { version: string };
	if (!resolved.startsWith(path.join(dir, 'node_modules')) || version !== expected) {
		throw new Error(`engine-oldest: ${name} resolves to ${resolved} (${version}), expected ${expected} under ${dir}`);
	}
}
