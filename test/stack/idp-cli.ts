// Standalone test IdP: `tsx test/stack/idp-cli.ts --port 18080 --host 127.0.0.1 --clients clients.json [--pid-file f]`
// Prints one "listening" line, serves the scripting API under /_admin/, stops on SIGTERM/SIGINT.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { startIdp, type IdpClient } from './idp';

interface CliArgs {
	host: string;
	port: number;
	clients?: string;
	pidFile?: string;
	ttl?: number;
	rotate: boolean;
	verbose: boolean;
}

function parseArgs(argv: string[]): CliArgs {
	const args: CliArgs = { host: '127.0.0.1', port: 18080, rotate: true, verbose: false };
	for (let i = 0; i < argv.length; i += 1) {
		const flag = argv[i];
		const value = (): string => {
			const v = argv[++i];
			if (v === undefined) throw new Error(`${flag} needs a value`);
			return v;
		};
		if (flag === '--host') args.host = value();
		else if (flag === '--port') args.port = Number(value());
		else if (flag === '--clients') args.clients = value();
		else if (flag === '--pid-file') args.pidFile = value();
		else if (flag === '--ttl') args.ttl = Number(value());
		else if (flag === '--no-rotate') args.rotate = false;
		else if (flag === '--verbose') args.verbose = true;
		else throw new Error(`unknown option ${flag}`);
	}
	return args;
}

function isClient(value: unknown): value is IdpClient {
	if (typeof value !== 'object' || value === null) return false;
	const record: Record<string, unknown> = { ...value };
	return typeof record.clientId === 'string' && typeof record.clientSecret === 'string';
}

/** A JSON array of clients, or `{ "clients": [...] }`. */
function loadClients(file: string): IdpClient[] {
	const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
	const list: unknown =
		typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'clients' in parsed ? parsed.clients : parsed;
	if (!Array.isArray(list) || !list.every(isClient)) throw new Error(`${file}: expected an array of {clientId, clientSecret, appMailboxes?}`);
	return list;
}

async function main(): Promise<void> {
	const args = parseArgs(process.argv.slice(2));
	const idp = await startIdp({
		host: args.host,
		port: args.port,
		accessTokenTtlSeconds: args.ttl,
		rotateRefreshTokens: args.rotate,
		quiet: !args.verbose,
		admin: true,
	});
	const clients = args.clients ? loadClients(args.clients) : [];
	for (const client of clients) idp.addClient(client);
	if (args.pidFile) writeFileSync(args.pidFile, `${process.pid}\n`);
	console.log(
		`[idp] listening ${idp.url} token=${idp.tokenUrl()} introspect=${idp.introspectUrl} admin=${idp.url}/_admin/ clients=${clients.map((c) => c.clientId).join(',') || '-'} pid=${process.pid}`,
	);
	const shutdown = (): void => {
		idp
			.stop()
			.catch(() => undefined)
			.finally(() => {
				if (args.pidFile) rmSync(args.pidFile, { force: true });
				process.exit(0);
			});
	};
	process.once('SIGTERM', shutdown);
	process.once('SIGINT', shutdown);
}

main().catch((error: unknown) => {
	console.error(`[idp] failed to start: ${error instanceof Error ? error.message : String(error)}`);
	process.exit(1);
});
