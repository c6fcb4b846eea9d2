import { createHash } from 'node:crypto';

import type {
	IDataObject,
	IRun,
	ILoadOptionsFunctions,
	INodeListSearchResult,
	INodeType,
	INodeTypeDescription,
	ITriggerFunctions,
	ITriggerResponse,
} from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { CREDENTIAL_TYPE } from '../shared/constants';
import { MailError } from '../shared/errors';
import { connectImap, disconnectImap, explainImapError, type ImapConnection } from '../shared/imap';
import { toNodeError } from '../shared/node-errors';
import { TokenSession } from '../shared/token';
import type { StartWith } from './cursor';
import { mailTriggerProperties } from './description';
import { MailWatcher, type WatchOptions } from './watcher';

function seconds(options: IDataObject, key: string, fallback: number): number {
	const n = Number(options[key] ?? fallback);
	return (Number.isFinite(n) && n > 0 ? n : fallback) * 1000;
}

function optionsOf(ctx: ITriggerFunctions): WatchOptions {
	const folder = String(ctx.getNodeParameter('folder', 'INBOX', { extractValue: true }) ?? '').trim();
	if (!folder) throw new NodeOperationError(ctx.getNode(), 'Folder is empty.', { description: 'Pick a folder from the list or type its path, e.g. INBOX.' });
	const filters = ctx.getNodeParameter('filters', {}) as IDataObject;
	const options = ctx.getNodeParameter('options', {}) as IDataObject;
	const action = ctx.getNodeParameter('afterStart', 'nothing') as WatchOptions['after']['action'];
	const moveTo = action === 'move' ? String(ctx.getNodeParameter('moveTo', '')).trim() : undefined;
	if (action === 'move' && !moveTo)
		throw new NodeOperationError(ctx.getNode(), 'Move to Folder is empty.', { description: 'Type the full path of an existing folder, e.g. Inbox/Processed, or choose another After Start action.' });
	if (action === 'move' && moveTo === folder)
		throw new NodeOperationError(ctx.getNode(), 'Move to Folder is the watched folder.', { description: 'Choose another folder to move started messages to.' });
	const maxMb = Number(options.maxAttachmentMb ?? 25);
	return {
		folder,
		startWith: ctx.getNodeParameter('startWith', 'new') as StartWith,
		filters: {
			unreadOnly: filters.unreadOnly === true,
			from: typeof filters.from === 'string' && filters.from.trim() ? filters.from.trim() : undefined,
			subject: typeof filters.subject === 'string' && filters.subject.trim() ? filters.subject.trim() : undefined,
			hasAttachments: filters.hasAttachments === true,
		},
		after: { action, moveTo },
		attachments: { download: options.downloadAttachments === true, maxBytes: (Number.isFinite(maxMb) && maxMb >= 0 ? maxMb : 25) * 1024 * 1024 },
		idleRenewMs: Math.min(seconds(options, 'idleRenewSeconds', 1500), 29 * 60 * 1000),
		pollMs: seconds(options, 'pollSeconds', 60),
		socketTimeoutMs: seconds(options, 'responseTimeoutSeconds', 60),
	};
}

/**
 * n8n's activation banner and the editor's folder list show only an error's message: code and hint
 * go in it too.
 */
function triggerError(ctx: Pick<ITriggerFunctions, 'getNode'>, e: unknown) {
	if (!(e instanceof MailError)) return toNodeError(ctx.getNode(), e);
	const f = e.failure;
	return toNodeError(ctx.getNode(), new MailError({ ...f, message: `${f.message} [${f.code}] ${f.hint}` }));
}

/** A folder as the list shows it: its full path, and its role where the server names one (not INBOX's). */
function folderName(path: string, specialUse: string | undefined): string {
	return specialUse && specialUse !== '\\Inbox' ? `${path} (${specialUse.replace('\\', '')})` : path;
}

export class MailTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Microsoft 365 Mail Trigger',
		name: 'mailTrigger',
		icon: { light: 'file:../../icons/m365mail-trigger.svg', dark: 'file:../../icons/m365mail-trigger.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{ "Folder: " + ($parameter["folder"].value || "INBOX") }}',
		description: 'Starts the workflow when mail arrives in a Microsoft 365 mailbox (IMAP IDLE with OAuth 2.0), each message exactly once',
		eventTriggerDescription: 'Waiting for a new message',
		defaults: { name: 'Microsoft 365 Mail Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: CREDENTIAL_TYPE, required: true }],
		properties: mailTriggerProperties,
	};

	methods = {
		listSearch: {
			async searchFolders(this: ILoadOptionsFunctions, filter?: string): Promise<INodeListSearchResult> {
				let session: TokenSession;
				let client: ImapConnection;
				try {
					session = await TokenSession.open(this);
					client = await connectImap(session);
				} catch (e) {
					throw triggerError(this, e);
				}
				try {
					const needle = (filter ?? '').toLowerCase();
					const folders = (await client.list())
						.filter((f) => !f.flags.has('\\Noselect') && f.path.toLowerCase().includes(needle))
						.sort((a, b) => (a.path === 'INBOX' ? -1 : b.path === 'INBOX' ? 1 : a.path.localeCompare(b.path)));
					return { results: folders.map((f) => ({ name: folderName(f.path, f.specialUse), value: f.path })) };
				} catch (e) {
					throw triggerError(this, explainImapError(session, e));
				} finally {
					await disconnectImap(client);
				}
			},
		},
	};

	async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
		const options = optionsOf(this);
		const staticData = this.getWorkflowStaticData('node');
		const watcher = new MailWatcher(
			{
				ctx: this,
				staticData,
				emit: async (item, key) => {
					// Settles once n8n has created the execution and run it (or refused it as a duplicate).
					const done = this.helpers.createDeferredPromise<IRun>();
					this.emit([[item]], undefined, done, key);
					return await done.promise;
				},
				keyPrefix: `m365-mail-trigger:${this.getWorkflow().id ?? ''}:${this.getNode().id}:${createHash('sha256').update(options.folder).digest('hex').slice(0, 12)}`,
				fail: (failure) => this.emitError(triggerError(this, failure)),
				warn: (message) => this.logger.warn(`Microsoft 365 Mail Trigger "${this.getNode().name}": ${message}`),
				info: (message) => this.logger.info(`Microsoft 365 Mail Trigger "${this.getNode().name}": ${message}`),
			},
			options,
		);

		// "Fetch test event": the newest matching message, read-only; no cursor, no flags changed.
		const manualTriggerFunction = async () => {
			let item;
			try {
				item = await watcher.newest();
			} catch (e) {
				throw triggerError(this, e);
			}
			if (!item)
				throw new NodeOperationError(this.getNode(), `No message in "${options.folder}" matches the filters.`, {
					description: 'Send a matching message to the mailbox, or loosen the filters, then fetch again.',
				});
			this.emit([[item]]);
		};

		if (this.getMode() === 'manual') return { manualTriggerFunction, closeFunction: async () => await watcher.close() };

		try {
			await watcher.activate();
		} catch (e) {
			await watcher.close();
			throw triggerError(this, e);
		}
		return { closeFunction: async () => await watcher.close(), manualTriggerFunction };
	}
}
