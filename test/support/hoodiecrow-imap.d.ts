// The parts of hoodiecrow-imap 2.1.0 (untyped, CommonJS) that test/support/imap-server.ts uses.
declare module 'hoodiecrow-imap' {
	import type { Server } from 'node:net';

	export interface ImapAttribute {
		type: 'ATOM' | 'TEXT' | 'STRING' | 'SECTION' | 'LITERAL';
		value?: string;
		section?: unknown[];
	}

	export interface ImapResponse {
		tag: string;
		command?: string;
		attributes?: Array<ImapAttribute | ImapAttribute[] | number>;
	}

	export interface ParsedCommand {
		tag: string;
		command: string;
		attributes?: ImapAttribute[] | null;
	}

	export interface HoodiecrowConnection {
		state: 'Not Authenticated' | 'Authenticated' | 'Selected' | 'Logout';
		inputHandler: ((line: string) => void) | false;
		socket: { destroy(): void; write(data: unknown): boolean; removeAllListeners(event: string): unknown };
		send(response: ImapResponse, description: string, parsed?: ParsedCommand, data?: string): void;
		/** Set by the fixture, not by hoodiecrow. */
		fixtureUser?: string;
	}

	export type CommandHandler = (connection: HoodiecrowConnection, parsed: ParsedCommand, data: string, callback: () => void) => void;

	export interface HoodiecrowMessage {
		uid: number;
		flags: string[];
		raw: string;
	}

	export interface HoodiecrowMailbox {
		messages: HoodiecrowMessage[];
		uidvalidity: number;
		uidnext: number;
	}

	export interface HoodiecrowServer {
		server: Server;
		capabilities: Record<string, (connection: HoodiecrowConnection) => boolean>;
		/** Called with every new client connection. */
		connectionHandlers: Array<(connection: HoodiecrowConnection) => void>;
		listen(port: number, host: string, callback?: () => void): void;
		close(callback?: () => void): void;
		registerCapability(keyword: string, handler?: (connection: HoodiecrowConnection) => boolean): void;
		setCommandHandler(command: string, handler: CommandHandler): void;
		getCommandHandler(command: string): CommandHandler | false;
		getMailbox(path: string): HoodiecrowMailbox | undefined;
		appendMessage(mailbox: string, flags: string[], internaldate: Date | undefined, raw: string): { message: HoodiecrowMessage };
	}

	export interface HoodiecrowOptions {
		secureConnection?: boolean;
		credentials?: { key: string; cert: string };
		plugins?: Array<string | ((server: HoodiecrowServer) => void)>;
		storage?: Record<string, unknown>;
		users?: Record<string, unknown>;
		debug?: boolean;
	}

	function hoodiecrow(options?: HoodiecrowOptions): HoodiecrowServer;
	export default hoodiecrow;
}
