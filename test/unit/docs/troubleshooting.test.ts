/**
 * The README's troubleshooting table must list every error code the package can show a user, and
 * must not list codes that no longer exist. Codes are read from the sources, so a new failure
 * added to the catalogue without documentation fails here.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { CHECK_ORDER } from '../../../nodes/VerifyMailbox/outcome';

const root = path.join(__dirname, '..', '..', '..');

function sources(dir: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const file = path.join(dir, name);
		return statSync(file).isDirectory() ? sources(file) : file.endsWith('.ts') ? [file] : [];
	});
}

const code = sources(path.join(root, 'nodes')).map((f) => readFileSync(f, 'utf8')).join('\n');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const table = readme.slice(readme.indexOf('## Troubleshooting'), readme.indexOf('## Development'));

const fixed = [...code.matchAll(/code: '([A-Z0-9_]+)'/g)].map((m) => m[1]).filter((c) => c !== 'UNEXPECTED');
const timeouts = CHECK_ORDER.map((name) => `${name.toUpperCase()}_TIMEOUT`);
const codes = [...new Set([...fixed, ...timeouts])];

it('finds the catalogue (sanity check of the scan itself)', () => {
	expect(codes).toEqual(expect.arrayContaining(['AADSTS7000222', 'SMTP_AUTH_DISABLED', 'IMAP_NOT_CONNECTED', 'SMTP_OUTCOME_UNKNOWN']));
	expect(codes.length).toBeGreaterThan(40);
});

it.each(codes)('README troubleshooting explains %s', (c) => {
	expect(table).toContain(`\`${c}\``);
});

it('README lists no code the package cannot produce', () => {
	const listed = [...table.matchAll(/`([A-Z][A-Z0-9_]{3,})`/g)].map((m) => m[1]);
	const unknown = listed.filter((c) => !codes.includes(c) && !/^SMTP_<code>$/.test(c));
	expect(unknown).toEqual([]);
});
