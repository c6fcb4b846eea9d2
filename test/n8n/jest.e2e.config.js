/** The n8n harness self-test on its own: `npx jest -c test/n8n/jest.e2e.config.js` (installs n8n on first run). */
module.exports = {
	rootDir: '../..',
	testEnvironment: 'node',
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
	moduleFileExtensions: ['ts', 'js', 'json'],
	testMatch: ['<rootDir>/test/n8n/**/*.e2e.test.ts'],
	testTimeout: 120000,
};
