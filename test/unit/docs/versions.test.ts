/**
 * One set of n8n versions everywhere: test/n8n/versions.sh (what CI installs and runs) is what the
 * README claims and tests, what package.json declares, and what the CHANGELOG says; the package
 * metadata points at one repository.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const versions = Object.fromEntries([...read('test/n8n/versions.sh').matchAll(/^(N8N_\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
const oldest = versions.N8N_OLDEST;
const newest = versions.N8N_NEWEST;
const readme = read('README.md');
const pkg = JSON.parse(read('package.json')) as {
	engines: Record<string, string>;
	peerDependencies: Record<string, string>;
	homepage: string;
	repository: { url: string };
	bugs: { url: string };
	author: { name: string; email: string; url?: string };
};
const REPO = 'https://github.com/n8n-nodes-m365-mail/n8n-nodes-m365-mail';

it('versions.sh names an oldest and a newest exact n8n 2.x release', () => {
	expect(oldest).toMatch(/^2\.\d+\.\d+$/);
	expect(newest).toMatch(/^2\.\d+\.\d+$/);
	const [a, b] = [oldest, newest].map((v) => v.split('.').map(Number));
	expect(a[0] * 1e6 + a[1] * 1e3 + a[2]).toBeLessThan(b[0] * 1e6 + b[1] * 1e3 + b[2]);
});

it('the README gives the tested versions in one line and claims the oldest in "Install in n8n"', () => {
	const tested = readme.split('\n').filter((l) => l.startsWith('**Tested n8n versions:**'));
	expect(tested).toHaveLength(1);
	expect(tested[0]).toContain(`${oldest} (the oldest claimed)`);
	expect(tested[0]).toContain(`${newest} (the newest 2.x`);
	const install = readme.slice(readme.indexOf('## Install in n8n'), readme.indexOf('## Azure setup'));
	expect(install).toContain(`self-hosted n8n ${oldest} or newer, 2.x`);
});

it('package.json declares the same range (engines.n8n) and n8n-workflow as n8n requires it', () => {
	expect(pkg.engines.n8n).toBe(`>=${oldest} <3.0.0`);
	expect(readme).toContain(`\`engines.n8n\` (\`${pkg.engines.n8n}\`)`);
	// n8n's community-node rules accept only "*" here (see README, "Versioning").
	expect(pkg.peerDependencies).toEqual({ 'n8n-workflow': '*' });
});

it('the CHANGELOG states the same range and has an Unreleased section', () => {
	const changelog = read('CHANGELOG.md');
	expect(changelog).toMatch(/^## \[Unreleased\]$/m);
	expect(changelog).toContain(`n8n ${oldest} to ${newest}`);
});

it('repository, bugs and homepage all point at the one source repository', () => {
	expect(pkg.repository.url).toBe(`git+${REPO}.git`);
	expect(pkg.bugs.url).toBe(`${REPO}/issues`);
	expect(pkg.homepage).toBe(`${REPO}#readme`);
	expect(pkg.author.url).toBe(`${REPO}/graphs/contributors`);
	expect(read('CHANGELOG.md')).toContain(REPO);
});
