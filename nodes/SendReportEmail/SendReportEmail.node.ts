import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	IPairedItemData,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { CREDENTIAL_TYPE, EXCHANGE_LIMITS, SMTP_RETRY } from '../shared/constants';
import { failureJson, toNodeError } from '../shared/node-errors';
import type { MailboxSettings } from '../shared/settings';
import { SmtpClient, composeMessage, type MailOptions } from '../shared/smtp';
import { TokenSession, readCredentialSettings } from '../shared/token';
import { loadAttachments, parseNameList, releaseAttachments, settle } from './attachments';
import { sendReportEmailProperties } from './description';
import { booleanOption, choiceOf, columnsOf, headersOf, numberOption, optionText, textOf } from './fields';
import { buildMail, newMessageId, type AttachmentInput, type BodyFormat, type Importance, type MessageInput } from './message';
import { placeReport, renderReport, type ReportColumn } from './report';

/** One email to send: built from the parameters of `paramIndex`, covering `itemIndexes`. */
interface Job {
	paramIndex: number;
	itemIndexes: number[];
}

interface Options {
	attachAllItems?: boolean;
	bcc?: string;
	cc?: string;
	customHeaders?: { header?: Array<{ name: string; value: string }> };
	customSignature?: string;
	dryRun?: boolean;
	from?: string;
	importance?: Importance;
	inlineImages?: string;
	maxMessageSizeMb?: number;
	messagesPerMinute?: number;
	pacing?: 'auto' | 'custom' | 'off';
	replyTo?: string;
	retries?: number;
	signature?: 'credential' | 'custom' | 'none';
}

function optionsAt(ctx: IExecuteFunctions, i: number): Options {
	return ctx.getNodeParameter('options', i, {}) as Options;
}

function str(ctx: IExecuteFunctions, name: string, i: number): string {
	return textOf(ctx.getNodeParameter(name, i, ''), name);
}



function pacingOf(o: Options, settings: MailboxSettings): number {
	const pacing = choiceOf(o.pacing, 'Options > Pacing', ['auto', 'custom', 'off'] as const, 'auto');
	if (pacing === 'off') return 0;
	if (pacing === 'custom') return numberOption(o, 'messagesPerMinute', 'Options > Messages Per Minute', { min: 1 }) ?? EXCHANGE_LIMITS.messagesPerMinute;
	return settings.isMicrosoftSmtp ? EXCHANGE_LIMITS.messagesPerMinute : 0;
}

/** Reads one job's parameters and binaries into mail options (called again for each retry). */
async function buildJob(ctx: IExecuteFunctions, job: Job, settings: MailboxSettings, messageId: string, mode: string): Promise<MailOptions> {
	const i = job.paramIndex;
	const items = ctx.getInputData();
	const o = optionsAt(ctx, i);
	const format: BodyFormat = choiceOf(ctx.getNodeParameter('emailFormat', i, 'html'), 'Email Format', ['html', 'text', 'both'] as const, 'html');
	let html = format === 'text' ? undefined : str(ctx, 'html', i);
	let text = format === 'html' ? undefined : str(ctx, 'text', i);
	const attachments: AttachmentInput[] = [];
	if (mode === 'report') {
		const output = choiceOf(str(ctx, 'reportOutput', i), 'Report Output', ['both', 'table', 'csv'] as const, 'both');
		const columns: ReportColumn[] = columnsOf(ctx.getNodeParameter('reportColumns', i, {}));
		const report = renderReport(items.map((it) => it.json), { columns, title: str(ctx, 'reportTitle', i) || undefined });
		if (output !== 'csv') {
			if (html !== undefined) html = placeReport(html, report.html);
			if (text !== undefined || format === 'both') text = placeReport(text ?? '', report.text);
		}
		if (output !== 'table')
			attachments.push({ origin: 'the CSV report', fileName: str(ctx, 'csvFileName', i) || 'report.csv', contentType: 'text/csv', size: Buffer.byteLength(report.csv) + 3, content: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(report.csv)]) });
	}
	const signatureChoice = choiceOf(o.signature, 'Options > Signature', ['credential', 'custom', 'none'] as const, 'credential');
	const signature = signatureChoice === 'none' ? '' : signatureChoice === 'custom' ? (optionText(o, 'customSignature') ?? '') : settings.signature;
	const input: MessageInput = {
		mailbox: settings.mailbox,
		from: optionText(o, 'from'),
		to: str(ctx, 'to', i),
		cc: optionText(o, 'cc'),
		bcc: optionText(o, 'bcc'),
		replyTo: optionText(o, 'replyTo'),
		defaultReplyTo: settings.replyTo,
		subject: str(ctx, 'subject', i),
		format,
		html,
		text,
		signature,
		importance: choiceOf(o.importance, 'Options > Importance', ['normal', 'high', 'low'] as const, 'normal'),
		headers: headersOf(o.customHeaders),
		attachments,
		maxMessageBytes: (numberOption(o, 'maxMessageSizeMb', 'Options > Max Message Size (MB)', { min: 0.001 }) ?? EXCHANGE_LIMITS.maxMessageBytes / 1024 / 1024) * 1024 * 1024,
		messageId,
	};
	// Files are opened last, and every one opened is closed again if anything after it fails.
	const fileItems = mode === 'report' && booleanOption(o, 'attachAllItems', 'Options > Attach Files of All Items') !== false ? job.itemIndexes : [i];
	const built = await settle(async () => {
		// One at a time, not push(...list): a report of 100,000+ items with files would overflow the stack.
		for (const a of await loadAttachments(ctx, items, fileItems, { names: parseNameList(str(ctx, 'attachments', i)) })) attachments.push(a);
		for (const a of await loadAttachments(ctx, items, [i], { names: parseNameList(optionText(o, 'inlineImages')), inline: true })) attachments.push(a);
		return buildMail(input);
	});
	if (!built.ok) {
		// Nothing will read the opened attachment streams: release their files.
		releaseAttachments(attachments);
		throw built.error;
	}
	return built.value;
}

export class SendReportEmail implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Send Report Email (Microsoft 365)',
		name: 'sendReportEmail',
		icon: { light: 'file:../../icons/m365mail.svg', dark: 'file:../../icons/m365mail.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle: '={{$parameter["mode"] === "report" ? "Report to " : "Email to "}}{{$parameter["to"]}}',
		description: 'Send emails or a report of all items through Microsoft 365 SMTP with OAuth 2.0',
		defaults: { name: 'Send Report Email' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		usableAsTool: true,
		credentials: [{ name: CREDENTIAL_TYPE, required: true }],
		properties: sendReportEmailProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const mode = this.getNodeParameter('mode', 0) as string;
		const jobs: Job[] = mode === 'report' ? [{ paramIndex: 0, itemIndexes: items.map((_, i) => i) }] : items.map((_, i) => ({ paramIndex: i, itemIndexes: [i] }));
		const first = optionsAt(this, 0);
		const results: INodeExecutionData[][] = jobs.map(() => []);
		let session: TokenSession | undefined;
		let smtp: SmtpClient | undefined;
		const secrets = () => session?.secrets() ?? [];
		const fail = (job: Job, e: unknown) => {
			if (!this.continueOnFail()) throw toNodeError(this.getNode(), e, job.paramIndex, secrets());
			results[jobs.indexOf(job)] = [{ json: failureJson(e, secrets()), pairedItem: paired(job) }];
		};
		try {
			let settings: MailboxSettings;
			try {
				if (booleanOption(first, 'dryRun', 'Options > Dry Run')) settings = await readCredentialSettings(this);
				else {
					session = await TokenSession.open(this);
					settings = session.settings;
					smtp = new SmtpClient(session, {
						messagesPerMinute: pacingOf(first, settings),
						// The editor allows 0-5; an expression giving more is held to 5.
						retry: { ...SMTP_RETRY, attempts: numberOption(first, 'retries', 'Options > Retries on Temporary Failures', { min: 0, max: 5, integer: true, cap: true }) ?? SMTP_RETRY.attempts },
					});
				}
			} catch (e) {
				for (const job of jobs) fail(job, e);
				return [results.flat()];
			}
			const client = smtp;
			const runJob = async (job: Job) => {
				const messageId = newMessageId(settings.mailbox);
				try {
					const build = async () => await buildJob(this, job, settings, messageId, mode);
					if (!client || booleanOption(optionsAt(this, job.paramIndex), 'dryRun', 'Options > Dry Run')) {
						const eml = await composeMessage(await build());
						const binary = await this.helpers.prepareBinaryData(eml, 'message.eml', 'message/rfc822');
						results[jobs.indexOf(job)] = [{ json: { dryRun: true, messageId, size: eml.length }, binary: { email: binary }, pairedItem: paired(job) }];
						return;
					}
					const { info, attempts } = await client.deliver(build);
					const json: IDataObject = { messageId: info.messageId, accepted: addresses(info.accepted), rejected: addresses(info.rejected), response: info.response, envelope: { from: info.envelope.from || '', to: info.envelope.to }, attempts };
					results[jobs.indexOf(job)] = [{ json, pairedItem: paired(job) }];
				} catch (e) {
					fail(job, e);
				}
			};
			await runConcurrently(jobs, EXCHANGE_LIMITS.maxConnections, runJob);
		} finally {
			smtp?.close();
		}
		return [results.flat()];
	}
}

function paired(job: Job): IPairedItemData[] {
	return job.itemIndexes.map((item) => ({ item }));
}

function addresses(list: Array<string | { address: string }>): string[] {
	return list.map((a) => (typeof a === 'string' ? a : a.address));
}

/** Runs `work` over `jobs` with at most `limit` at a time; the first thrown error stops new ones. */
async function runConcurrently<T>(jobs: T[], limit: number, work: (job: T) => Promise<void>): Promise<void> {
	let next = 0;
	let failed: { e: unknown } | undefined;
	const worker = async () => {
		while (!failed && next < jobs.length) {
			const job = jobs[next++];
			try {
				await work(job);
			} catch (e) {
				failed ??= { e };
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
	if (failed) throw failed.e;
}
