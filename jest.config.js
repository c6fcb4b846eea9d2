/** Test tiers: unit (pure), engine (n8n-core WorkflowExecute + in-process servers), interop (real Postfix/Dovecot). */
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');

// The engine harness gives each jest worker its own n8n user folder (with a binary data store)
// under this one, which goes when jest ends.
if (!process.env.N8N_M365_TMP) {
	const root = mkdtempSync(path.join(tmpdir(), 'n8n-m365-jest-'));
	process.env.N8N_M365_TMP = root;
	process.once('exit', () => rmSync(root, { recursive: true, force: true }));
}

const ts = {
	'^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
};
// `Foo.node.js` in an import names the TypeScript source: tsx (demo, bench, dev) would otherwise pick
// the codex file `Foo.node.json` next to `Foo.node.ts`.
const moduleNameMapper = { '^(\\.{1,2}/.*\\.node)\\.js$': '$1' };
const common = { testEnvironment: 'node', transform: ts, moduleFileExtensions: ['ts', 'js', 'json'], moduleNameMapper };

module.exports = {
	testTimeout: 120000,
	projects: [
		{ ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts', '<rootDir>/test/stack/**/*.test.ts'] },
		{ ...common, displayName: 'engine', testMatch: ['<rootDir>/test/engine/**/*.test.ts'] },
		// Fault injection and bad input through the engine; prints the table of what it tried.
		{ ...common, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.test.ts'] },
		// A real n8n 2.41.1 (Node 24) with the packed package installed; run in band.
		{ ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/n8n/**/*.e2e.test.ts', '<rootDir>/test/e2e/**/*.test.ts'] },
		{
			...common,
			displayName: 'interop',
			testMatch: ['<rootDir>/test/interop/**/*.test.ts'],
			// Starts the real mail stack (identity provider, Postfix, Dovecot) once for all files.
			globalSetup: '<rootDir>/test/stack/jest-global-setup.ts',
			globalTeardown: '<rootDir>/test/stack/jest-global-teardown.ts',
		},
	],
};
