/**
 * In-process IMAP server for engine tests: hoodiecrow-imap over implicit TLS (a generated
 * self-signed certificate, trusted by tests through the credential's Trusted CA field), with
 * AUTHENTICATE XOAUTH2 (and optionally OAUTHBEARER) checked against the test IdP, like Exchange
 * Online checks a bearer token. Modes reproduce what a user meets in production:
 * - `normal`: a working mailbox (INBOX, Sent Items, Deleted Items, QUOTA);
 * - `notConnected`: the token is accepted, then every command gets Microsoft's
 *   "User is authenticated but not connected." (mailbox permission or identity missing);
 * - `stall`: accepts TCP connections and never says anything (no TLS handshake, no greeting);
 * - `down`: nothing listens on the port (connection refused).
 * `starttls: true` serves plain IMAP with STARTTLS (port 143 style) instead of implicit TLS;
 * `unavailableNext(n)` answers the next n logins `NO [UNAVAILABLE] Temporary authentication
 * failure`, as Dovecot and Exchange do when the token cannot be checked right now.
 * `idle: false` leaves IDLE out of the capabilities (a server or proxy without it);
 * `goDown()` / `comeBack()` stop the server (connections cut, new ones refused) and start it again
 * on the same port with the same mailbox, as a server restart or an outage does.
 * Logins follow Exchange: the token's own mailbox, or one its account has Full Access on (the
 * test IdP's directory), and only the mailbox this server holds.
 */
import { createServer, type Server, type Socket } from 'node:net';

import hoodiecrow, { type CommandHandler, type HoodiecrowConnection, type HoodiecrowServer, type ParsedCommand } from 'hoodiecrow-imap';

import type { Idp } from '../stack/idp';
import { testCertificate } from './tls-certificate';

export type ImapMode = 'normal' | 'notConnected' | 'stall' | 'down';
export type OAuthMechanism = 'XOAUTH2' | 'OAUTHBEARER';

export interface ImapServerOptions {
	idp: Idp;
	/** The mailbox this server holds; a token must have been issued for it. */
	mailbox: string;
	mode?: ImapMode;
	/** SASL mechanisms to advertise. Default `['XOAUTH2']`, as Exchange Online does. */
	mechanisms?: OAuthMechanism[];
	/** Advertise QUOTA and answer GETQUOTAROOT (default true). */
	quota?: boolean;
	/** Plain IMAP with STARTTLS instead of implicit TLS. */
	starttls?: boolean;
	/** Offer UIDPLUS (UID EXPUNGE), as Exchange Online does (default true). */
	uidplus?: boolean;
	/** More folders under the root, e.g. names a server or a user chose; `Parent/Child` nests one level. */
	extraFolders?: string[];
	/** Offer IDLE (default true). */
	idle?: boolean;
	/**
	 * `Parent/Child` paths: `Parent` is listed `\Noselect` (a hierarchy level only) with the normal
	 * folder `Child` below it; a name without `/` is a `\Noselect` folder on its own.
	 */
	noselectFolders?: string[];
}

export interface LoginAttempt {
	mechanism: OAuthMechanism;
	user: string;
	ok: boolean;
	reason?: string;
}

export interface StoredMessage {
	uid: number;
	flags: string[];
	messageId?: string;
	raw: string;
}

export interface ImapServer {
	host: string;
	port: number;
	/** PEM to put in the credential's Trusted CA Certificate field. */
	ca: string;
	mode: ImapMode;
	/** Every AUTHENTICATE the server answered, in order (never the token). */
	logins: LoginAttempt[];
	/** Switches between `normal` and `notConnected` while running. */
	setMode(mode: 'normal' | 'notConnected'): void;
	/** The next `count` logins get `NO [UNAVAILABLE] Temporary authentication failure.` (the token is not checked). */
	unavailableNext(count: number): void;
	/** Puts a message into a folder (INBOX by default), as delivery would. */
	deliver(raw: string, options?: { folder?: string; flags?: string[] }): StoredMessage;
	/** The messages of a folder, without those flagged \Deleted and expunged. */
	messages(folder?: string): StoredMessage[];
	/**
	 * Rebuilds a folder as a server does when its UIDVALIDITY changes: a new UIDVALIDITY, the
	 * messages renumbered from UID 1, and every session dropped.
	 */
	resetUidValidity(folder?: string): number;
	/** Drops every client connection, as a server restart does. */
	dropConnections(): void;
	/** Cuts the connection (no answer) the next `count` times a client sends `command`, e.g. `UID FETCH`. */
	cutOn(command: string, count?: number): void;
	/** Every open connection stays open but never says anything again (a hung server or a dead path). */
	silence(): void;
	/** Stops listening and cuts every connection: connecting is refused until `comeBack()`. */
	goDown(): Promise<void>;
	/** Listens again on the same port, with the same mailbox. */
	comeBack(): Promise<void>;
	/** Connections accepted so far (TCP, whether or not they signed in). */
	readonly accepted: number;
	/** How often clients sent a command so far, e.g. `IDLE`, `UID SEARCH`. */
	commandCount(command: string): number;
	stop(): Promise<void>;
}

const NOT_CONNECTED = 'User is authenticated but not connected.';
const HOST = '127.0.0.1';

function messageIdOf(raw: string): string | undefined {
	const header = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
	return /^Message-ID:\s*(<[^>]+>)/im.exec(header)?.[1];
}

function reply(connection: HoodiecrowConnection, parsed: ParsedCommand, command: 'OK' | 'NO' | 'BAD', text: string): void {
	connection.send({ tag: parsed.tag, command, attributes: [{ type: 'TEXT', value: text }] }, `AUTHENTICATE ${command}`, parsed);
}

/** Splits a SASL initial response into user and bearer token, per mechanism. */
function parseInitialResponse(mechanism: OAuthMechanism, encoded: string): { user: string; token: string } | undefined {
	const text = Buffer.from(encoded, 'base64').toString('utf8');
	if (mechanism === 'XOAUTH2') {
		const m = /^user=([^\x01]+)\x01auth=Bearer ([^\x01]+)\x01\x01$/.exec(text);
		return m ? { user: m[1], token: m[2] } : undefined;
	}
	// RFC 7628: gs2-header "n,a=<user>," then \x01-separated key=value pairs, ending \x01\x01.
	const m = /^n,a=([^,]*),\x01(.*)\x01\x01$/s.exec(text);
	if (!m) return undefined;
	const fields = new Map(m[2].split('\x01').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
	const token = /^Bearer (.+)$/.exec(fields.get('auth') ?? '')?.[1];
	const user = m[1].replace(/=2C/g, ',').replace(/=3D/g, '=');
	return token && user ? { user, token } : undefined;
}

function oauthPlugin(options: ImapServerOptions, logins: LoginAttempt[], modeOf: () => ImapMode, takeUnavailable: () => boolean) {
	return (server: HoodiecrowServer): void => {
		for (const mechanism of options.mechanisms ?? ['XOAUTH2']) {
			server.registerCapability(`AUTH=${mechanism}`, (c) => c.state === 'Not Authenticated');
			const handler: CommandHandler = (connection, parsed, _data, callback) => {
				const arg = parsed.attributes?.[0]?.value;
				const login = arg ? parseInitialResponse(mechanism, arg) : undefined;
				if (connection.state !== 'Not Authenticated') {
					reply(connection, parsed, 'BAD', 'Command received in Invalid state.');
					return callback();
				}
				if (!login) {
					logins.push({ mechanism, user: '', ok: false, reason: 'malformed initial response' });
					reply(connection, parsed, 'BAD', 'Command Argument Error. 12');
					return callback();
				}
				if (takeUnavailable()) {
					logins.push({ mechanism, user: login.user, ok: false, reason: 'temporary failure (scripted)' });
					connection.send({ tag: parsed.tag, command: 'NO', attributes: [{ type: 'SECTION', section: [{ type: 'ATOM', value: 'UNAVAILABLE' }] }, { type: 'TEXT', value: 'Temporary authentication failure.' }] }, 'AUTHENTICATE NO', parsed);
					return callback();
				}
				// Exchange's IMAP rule: the account's own mailbox, or one it has Full Access on.
				const check = options.idp.verify(login.token, login.user, 'imap');
				const wrongMailbox = login.user.toLowerCase() !== options.mailbox.toLowerCase();
				if (!check.ok || wrongMailbox) {
					const reason = check.ok ? `no mailbox ${login.user} on this server` : check.reason;
					logins.push({ mechanism, user: login.user, ok: false, reason });
					// Exchange Online answers a refused token with a plain tagged NO.
					reply(connection, parsed, 'NO', 'AUTHENTICATE failed.');
					return callback();
				}
				logins.push({ mechanism, user: login.user, ok: true });
				connection.state = 'Authenticated';
				connection.fixtureUser = modeOf() === 'notConnected' ? NOT_CONNECTED : login.user;
				reply(connection, parsed, 'OK', 'AUTHENTICATE completed.');
				return callback();
			};
			server.setCommandHandler(`AUTHENTICATE ${mechanism}`, handler);
		}
	};
}

/** QUOTA (RFC 2087) for INBOX: 1 MiB used of 50 GiB, in KiB units. */
function quotaPlugin(server: HoodiecrowServer): void {
	server.registerCapability('QUOTA', (c) => c.state !== 'Not Authenticated');
	server.setCommandHandler('GETQUOTAROOT', (connection, parsed, _data, callback) => {
		const path = parsed.attributes?.[0]?.value ?? 'INBOX';
		connection.send({ tag: '*', command: 'QUOTAROOT', attributes: [{ type: 'STRING', value: path }, { type: 'STRING', value: '' }] }, 'QUOTAROOT', parsed);
		connection.send({ tag: '*', command: 'QUOTA', attributes: [{ type: 'STRING', value: '' }, [{ type: 'ATOM', value: 'STORAGE' }, { type: 'ATOM', value: '1024' }, { type: 'ATOM', value: '52428800' }]] }, 'QUOTA', parsed);
		connection.send({ tag: parsed.tag, command: 'OK', attributes: [{ type: 'TEXT', value: 'GETQUOTAROOT completed.' }] }, 'GETQUOTAROOT', parsed);
		callback();
	});
}

/** After a "not connected" login, every command but LOGOUT gets Microsoft's BAD answer. */
function notConnectedGate(server: HoodiecrowServer): void {
	const original = server.getCommandHandler.bind(server);
	server.getCommandHandler = (command: string) => {
		const handler = original(command);
		if (!handler || command.toUpperCase() === 'LOGOUT') return handler;
		const gated: CommandHandler = (connection, parsed, data, callback) => {
			if (connection.fixtureUser !== NOT_CONNECTED) return handler(connection, parsed, data, callback);
			connection.send({ tag: parsed.tag, command: 'BAD', attributes: [{ type: 'TEXT', value: NOT_CONNECTED }] }, 'NOT CONNECTED', parsed);
			callback();
		};
		return gated;
	};
}

/** Counts every command and cuts the socket instead of answering a chosen one (armed by `cutOn`). */
function cutGate(cuts: Map<string, number>, seen: Map<string, number>) {
	return (server: HoodiecrowServer): void => {
		const original = server.getCommandHandler.bind(server);
		server.getCommandHandler = (command: string) => {
			const handler = original(command);
			if (!handler) return handler;
			const gated: CommandHandler = (connection, parsed, data, callback) => {
				const key = command.toUpperCase();
				seen.set(key, (seen.get(key) ?? 0) + 1);
				const left = cuts.get(key) ?? 0;
				if (left <= 0) return handler(connection, parsed, data, callback);
				cuts.set(key, left - 1);
				connection.socket.destroy();
				callback();
			};
			return gated;
		};
	};
}

async function listen(server: Server): Promise<number> {
	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, HOST, () => resolve());
	});
	const address = server.address();
	if (!address || typeof address === 'string') throw new Error('IMAP fixture did not bind a TCP port');
	return address.port;
}

async function close(server: Server): Promise<void> {
	await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
	const probe = createServer();
	const port = await listen(probe);
	await close(probe);
	return port;
}

/** Accepts connections and never answers: not the TLS handshake, not the greeting. */
async function stallingServer(): Promise<{ port: number; stop(): Promise<void> }> {
	const sockets = new Set<Socket>();
	const server = createServer((socket) => {
		sockets.add(socket);
		socket.on('error', () => undefined);
		socket.on('close', () => sockets.delete(socket));
	});
	const port = await listen(server);
	return {
		port,
		stop: async () => {
			for (const s of sockets) s.destroy();
			await close(server);
		},
	};
}

export async function startImapServer(options: ImapServerOptions): Promise<ImapServer> {
	const cert = testCertificate();
	const mode = options.mode ?? 'normal';
	const logins: LoginAttempt[] = [];
	const base = { host: HOST, ca: cert.cert, logins };
	const unsupported = (): never => {
		throw new Error(`IMAP fixture in "${mode}" mode holds no mailbox`);
	};
	if (mode === 'down' || mode === 'stall') {
		const stall = mode === 'stall' ? await stallingServer() : undefined;
		return {
			...base,
			port: stall?.port ?? (await closedPort()),
			mode,
			setMode: unsupported,
			unavailableNext: unsupported,
			deliver: unsupported,
			messages: unsupported,
			resetUidValidity: unsupported,
			dropConnections: unsupported,
			cutOn: unsupported,
			silence: unsupported,
			goDown: unsupported,
			commandCount: unsupported,
			comeBack: unsupported,
			accepted: 0,
			stop: async () => await stall?.stop(),
		};
	}

	let current: ImapMode = mode;
	const cuts = new Map<string, number>();
	const seen = new Map<string, number>();
	const connections = new Set<HoodiecrowConnection>();
	let unavailable = 0;
	const takeUnavailable = (): boolean => (unavailable > 0 ? (unavailable--, true) : false);
	const storage = {
		INBOX: { messages: [] },
		'': {
			separator: '/',
			folders: {
				Drafts: { 'special-use': '\\Drafts', messages: [] },
				'Sent Items': { 'special-use': '\\Sent', messages: [] },
				'Deleted Items': { 'special-use': '\\Trash', messages: [] },
				'Junk Email': { 'special-use': '\\Junk', messages: [] },
			},
		},
	};
	interface Folder {
		'special-use'?: string;
		flags?: string[];
		messages: never[];
		folders?: Record<string, Folder>;
	}
	const folders: Record<string, Folder> = storage[''].folders;
	for (const name of options.extraFolders ?? []) {
		// "Parent/Child": both selectable, Child one level below Parent.
		const [first, ...rest] = name.split('/');
		const parent = (folders[first] ??= { messages: [] });
		if (rest.length) (parent.folders ??= {})[rest.join('/')] = { messages: [] };
	}
	// "Parent/Child": the parent exists only as a hierarchy level (\Noselect), as on Dovecot with
	// LAYOUT=fs when only the child was created.
	for (const path of options.noselectFolders ?? []) {
		const [parent, ...rest] = path.split('/');
		folders[parent] = { flags: ['\\Noselect'], messages: [], folders: rest.length ? { [rest.join('/')]: { messages: [] } } : {} };
	}
	const plugins: Array<string | ((server: HoodiecrowServer) => void)> = [
		'sasl-ir', 'id', 'enable', ...(options.uidplus === false ? [] : ['uidplus']), 'unselect', 'special-use', 'literalplus', ...(options.idle === false ? [] : ['idle']), 'move',
		oauthPlugin(options, logins, () => current, takeUnavailable),
		notConnectedGate,
		cutGate(cuts, seen),
		(server: HoodiecrowServer) => server.connectionHandlers.push((c) => connections.add(c)),
	];
	if (options.quota !== false) plugins.push(quotaPlugin);
	if (options.starttls) plugins.push('starttls');
	const imap = hoodiecrow({ secureConnection: options.starttls !== true, credentials: { key: cert.key, cert: cert.cert }, plugins, storage });
	// A client that disappears mid-session must not crash the test process.
	imap.server.on('tlsClientError', () => undefined);
	const sockets = new Set<Socket>();
	let accepted = 0;
	imap.server.on('connection', (socket: Socket) => {
		accepted++;
		sockets.add(socket);
		socket.on('close', () => sockets.delete(socket));
	});
	const port = await listen(imap.server);

	// Cutting a connection that is in IDLE leaves hoodiecrow's 30-minute IDLE timer running (it keeps
	// the test process alive): end IDLE quietly first, then cut.
	const cutAll = () => {
		for (const c of connections)
			if (typeof c.inputHandler === 'function') {
				// hoodiecrow drops the socket of a closed connection (null); send() then writes nothing.
				if (c.socket) c.socket.write = () => true;
				c.inputHandler('DONE');
			}
		for (const s of sockets) s.destroy();
	};
	const mailboxOf = (folder: string) => {
		const box = imap.getMailbox(folder);
		if (!box) throw new Error(`IMAP fixture has no folder "${folder}"`);
		return box;
	};
	const stored = (m: { uid: number; flags: string[]; raw: string }): StoredMessage => ({
		uid: m.uid,
		flags: [...m.flags],
		messageId: messageIdOf(m.raw),
		raw: m.raw,
	});

	return {
		...base,
		port,
		get mode() {
			return current;
		},
		setMode: (next) => {
			current = next;
		},
		unavailableNext: (count) => {
			unavailable = count;
		},
		deliver: (raw, { folder = 'INBOX', flags = [] } = {}) => {
			mailboxOf(folder);
			return stored(imap.appendMessage(folder, flags, undefined, raw).message);
		},
		messages: (folder = 'INBOX') => mailboxOf(folder).messages.map(stored),
		resetUidValidity: (folder = 'INBOX') => {
			const box = mailboxOf(folder);
			box.uidvalidity += 1000;
			box.messages.forEach((m, i) => (m.uid = i + 1));
			box.uidnext = box.messages.length + 1;
			cutAll();
			return box.uidvalidity;
		},
		dropConnections: cutAll,
		cutOn: (command, count = 1) => {
			cuts.set(command.toUpperCase(), count);
		},
		goDown: async () => {
			const closed = close(imap.server);
			cutAll();
			await closed;
		},
		comeBack: async () => {
			await new Promise<void>((resolve, reject) => {
				imap.server.once('error', reject);
				imap.server.listen(port, HOST, () => {
					imap.server.off('error', reject);
					resolve();
				});
			});
		},
		get accepted() {
			return accepted;
		},
		commandCount: (command) => seen.get(command.toUpperCase()) ?? 0,
		silence: () => {
			for (const c of connections) {
				// Reads are dropped and nothing is written: the connection stays up, the server is mute.
				c.socket.removeAllListeners('data');
				c.socket.write = () => true;
			}
		},
		stop: async () => {
			cutAll();
			await close(imap.server);
		},
	};
}
