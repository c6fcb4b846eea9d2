/**
 * Build: each n8n entry point (credential, nodes) is bundled by esbuild into one CommonJS file under
 * dist/, with nodemailer, imapflow and (for the trigger) mailparser inside (community nodes may not have runtime dependencies) and
 * their license notices kept at the end of the file. n8n-workflow stays external (n8n provides it).
 * Icons and codex files are copied next to the files that reference them.
 */
const { src, dest, series } = require('gulp');
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');

const entries = [
	'credentials/MicrosoftMailOAuth2Api.credentials.ts',
	'nodes/SendReportEmail/SendReportEmail.node.ts',
	'nodes/VerifyMailbox/VerifyMailbox.node.ts',
	'nodes/MailTrigger/MailTrigger.node.ts',
];

function clean(done) {
	fs.rmSync(path.join(__dirname, 'dist'), { recursive: true, force: true });
	done();
}

async function bundle() {
	await esbuild.build({
		entryPoints: entries,
		outdir: 'dist',
		outbase: '.',
		bundle: true,
		platform: 'node',
		target: 'node20',
		format: 'cjs',
		external: ['n8n-workflow'],
		legalComments: 'eof',
		sourcemap: false,
		logLevel: 'warning',
	});
}

function icons() {
	return src('icons/*.svg').pipe(dest('dist/icons'));
}

function codex() {
	return src('nodes/**/*.node.json').pipe(dest('dist/nodes'));
}

function licenses(done) {
	// The bundles carry third-party code: ship its license texts with them.
	const out = path.join(__dirname, 'dist', 'THIRD-PARTY-LICENSES.txt');
	const parts = ['nodemailer', 'imapflow', 'mailparser'].map((name) => {
		const dir = path.dirname(require.resolve(`${name}/package.json`));
		const file = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
		return `== ${name} ==\n${file ? fs.readFileSync(path.join(dir, file), 'utf8') : 'see package'}\n`;
	});
	fs.writeFileSync(out, parts.join('\n'));
	done();
}

exports.build = series(clean, bundle, icons, codex, licenses);
exports.default = exports.build;
