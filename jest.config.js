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

// `engine-oldest`: the engine tests again, with n8n-core, n8n-workflow and n8n-nodes-base taken from
// the oldest supported n8n (scripts/engine-oldest.sh installs them and sets N8N_ENGINE_DIR).
const engineDir = process.env.N8N_ENGINE_DIR ?? '<set by scripts/engine-oldest.sh>';
const ESM_ONLY = ['p-retry', 'is-network-error'];
const oldestMapper = {
	...moduleNameMapper,
	'^(n8n-workflow|n8n-core|n8n-nodes-base)$': `${engineDir}/node_modules/$1`,
	'^(n8n-workflow|n8n-core|n8n-nodes-base)/(.*)$': `${engineDir}/node_modules/$1/$2`,
};

module.exports = {
	testTimeout: 120000,
	projects: [
		{ ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts', '<rootDir>/test/stack/**/*.test.ts'] },
		{ ...common, displayName: 'engine', testMatch: ['<rootDir>/test/engine/**/*.test.ts'] },
		{
			...common,
			displayName: 'engine-oldest',
			testMatch: ['<rootDir>/test/engine/**/*.test.ts'],
			moduleNameMapper: oldestMapper,
			// Older n8n-core pulls ESM-only packages into require() (Node >= 20.19 loads them natively,
			// jest's module system does not): compile just those to CommonJS.
			transform: { ...ts, '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true, module: 'commonjs', esModuleInterop: true } }] },
			transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
			// Fails the run unless the mapped n8n really is the old one.
			setupFiles: ['<rootDir>/test/support/engine-oldest-guard.ts'],
		},
		// Fault injection and bad input through the engine; prints the table of what it tried.
		{ ...common, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.test.ts'] },
		// A real n8n (test/n8n/versions.sh; N8N_E2E_VERSION picks one) on Node 24 with the packed package installed; run in band.
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
