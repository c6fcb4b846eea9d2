import { Readable } from 'node:stream';

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
import { MailError } from '../shared/errors';
import { failureJson, failureOf, toNodeError, type HintContext } from '../shared/node-errors';
import type { MailboxSettings } from '../shared/settings';
import { SmtpClient, composeMessage, type MailOptions } from '../shared/smtp';
import { TokenSession, readCredentialSettings } from '../shared/token';
import { loadAttachments, parseNameList, releaseAttachments, settle } from './attachments';
import { unmatchedColumnWarnings } from './columns';
import { sendReportEmailProperties } from './description';
import { booleanOption, choiceOf, columnsOf, headersOf, numberOption, optionText, textOf } from './fields';
import { buildMail, newMessageId, type AttachmentInput, type BodyFormat, type Importance, type MessageInput } from './message';
import { placeReport, renderReport, type ReportColumn } from './report';
import { batchReport, runConcurrently, runIndexOf } from './batch';
import { addressOf, dryRunJson, sentJson, type BuiltMessage } from './output';
import { ledgerKey, mailFingerprint, sentLedger } from './sent-ledger';

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
async function buildJob(ctx: IExecuteFunctions, job: Job, settings: MailboxSettings, messageId: string, mode: string): Promise<BuiltMessage> {
	const i = job.paramIndex;
	const items = ctx.getInputData();
	const o = optionsAt(ctx, i);
	const format: BodyFormat = choiceOf(ctx.getNodeParameter('emailFormat', i, 'html'), 'Email Format', ['html', 'text', 'both'] as const, 'html');
	let html = format === 'text' ? undefined : str(ctx, 'html', i);
	let text = format === 'html' ? undefined : str(ctx, 'text', i);
	const attachments: AttachmentInput[] = [];
	const warnings: string[] = [];
	if (mode === 'report') {
		const output = choiceOf(str(ctx, 'reportOutput', i), 'Report Output', ['both', 'table', 'csv'] as const, 'both');
		const columns: ReportColumn[] = columnsOf(ctx.getNodeParameter('reportColumns', i, {}));
		const rows = items.map((it) => it.json);
		warnings.push(...unmatchedColumnWarnings(rows, columns));
		const report = renderReport(rows, { columns, title: str(ctx, 'reportTitle', i) || undefined });
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
	return { mail: built.value, warnings, files: attachments.map((a) => ({ name: a.fileName, type: a.contentType, size: a.size })) };
}

/** Nothing will read these attachment streams: release their files. */
function releaseMail(mail: MailOptions): void {
	for (const a of mail.attachments ?? []) if (a.content instanceof Readable && !a.content.destroyed) a.content.destroy();
}

export class SendReportEmail implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Send Report Email (Microsoft 365)',
		name: 'sendReportEmail',
		icon: { light: 'file:../../icons/send-report-email.svg', dark: 'file:../../icons/send-report-email.dark.svg' },
		group: ['output'],
		version: 1,
		// The recipients only when typed in: an expression would show as its source.
		subtitle: '={{ ($parameter["mode"] === "report" ? "Report email" : "One email per item") + (/^[^={}]+$/.test($parameter["to"] || "") ? " to " + $parameter["to"] : "") }}',
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
		const node = this.getNode();
		let session: TokenSession | undefined;
		let smtp: SmtpClient | undefined;
		const secrets = () => session?.secrets() ?? [];
		const output = (job: Job, json: IDataObject, binary?: INodeExecutionData['binary']) => {
			results[jobs.indexOf(job)] = [{ json, ...(binary ? { binary } : {}), pairedItem: paired(job) }];
		};
		const fail = (job: Job, e: unknown, context: HintContext) => {
			if (!this.continueOnFail()) throw toNodeError(node, e, job.paramIndex, secrets(), { context });
			output(job, failureJson(e, secrets(), context));
		};

		let settings: MailboxSettings;
		try {
			settings = await readCredentialSettings(this);
		} catch (e) {
			for (const job of jobs) fail(job, e, {});
			return [results.flat()];
		}
		const mailbox = settings.mailbox;
		const hintBase: HintContext = { mailbox, grantType: settings.grantType };

		// Every message is built and checked before the first one goes out: bad input anywhere in
		// the batch sends nothing (under Continue On Fail, only the bad items stay behind).
		const ready: Ready[] = [];
		for (const job of jobs) {
			try {
				const built = await buildJob(this, job, settings, newMessageId(mailbox), mode);
				releaseMail(built.mail);
				ready.push({ job, fingerprint: mailFingerprint(built.mail), from: addressOf(built.mail.from), warnings: built.warnings });
			} catch (e) {
				fail(job, e, hintBase);
			}
		}
		const warnings = [...new Set(ready.flatMap((r) => r.warnings))];
		if (warnings.length) this.addExecutionHints(...warnings.map((message) => ({ message, type: 'warning' as const, location: 'outputPane' as const })));

		// A retry of this node in this execution (Retry On Fail) answers what already went out
		// with its first result instead of sending it again.
		const executionId = this.getExecutionId() ?? '';
		const runIndex = runIndexOf(this);
		const keyOf = (r: Ready) => ledgerKey({ executionId, node: node.name, runIndex, itemIndex: r.job.paramIndex, fingerprint: r.fingerprint });
		const sentIds = new Map<number, string>();
		const toSend: Ready[] = [];
		for (const r of ready) {
			const seen = executionId ? sentLedger.get(keyOf(r)) : undefined;
			if (!seen) toSend.push(r);
			else if (seen.kind === 'sent') {
				output(r.job, seen.json);
				sentIds.set(r.job.paramIndex, String(seen.json.messageId ?? ''));
			} else fail(r.job, new MailError(seen.failure), { ...hintBase, from: r.from });
		}
		if (toSend.length === 0) return [results.flat()];

		try {
			if (!booleanOption(first, 'dryRun', 'Options > Dry Run')) {
				session = await TokenSession.open(this);
				hintBase.signedInAccount = session.smtpUser;
				smtp = new SmtpClient(session, {
					messagesPerMinute: pacingOf(first, settings),
					// The editor allows 0-5; an expression giving more is held to 5.
					retry: { ...SMTP_RETRY, attempts: numberOption(first, 'retries', 'Options > Retries on Temporary Failures', { min: 0, max: 5, integer: true, cap: true }) ?? SMTP_RETRY.attempts },
				});
			}
		} catch (e) {
			for (const r of toSend) fail(r.job, e, hintBase);
			return [results.flat()];
		}

		const client = smtp;
		// The first failure (without Continue On Fail) stops new sends; those under way finish.
		let stop: { ready: Ready; error: unknown } | undefined;
		const runJob = async (r: Ready) => {
			const { job } = r;
			const messageId = newMessageId(mailbox);
			try {
				if (!client || booleanOption(optionsAt(this, job.paramIndex), 'dryRun', 'Options > Dry Run')) {
					const built = await buildJob(this, job, settings, messageId, mode);
					const eml = await composeMessage(built.mail);
					const binary = await this.helpers.prepareBinaryData(eml, 'message.eml', 'message/rfc822');
					output(job, dryRunJson(built, eml), { email: binary });
					return;
				}
				const { info, attempts } = await client.deliver(async () => (await buildJob(this, job, settings, messageId, mode)).mail);
				const json = sentJson(info, attempts, r.warnings, client.loggedInAs);
				if (executionId) sentLedger.remember(keyOf(r), { kind: 'sent', json });
				sentIds.set(job.paramIndex, info.messageId);
				output(job, json);
			} catch (e) {
				const failure = failureOf(e, secrets());
				if (failure.outcomeUnknown && executionId) sentLedger.remember(keyOf(r), { kind: 'unknown', failure });
				if (!this.continueOnFail()) {
					stop ??= { ready: r, error: e };
					return;
				}
				output(job, failureJson(e, secrets(), { ...hintBase, from: r.from }));
			}
		};
		try {
			await runConcurrently(toSend, EXCHANGE_LIMITS.maxConnections, runJob, () => stop !== undefined);
		} catch (e) {
			throw toNodeError(node, e, undefined, secrets(), { context: hintBase });
		} finally {
			smtp?.close();
		}
		if (stop) throw toNodeError(node, stop.error, stop.ready.job.paramIndex, secrets(), { context: { ...hintBase, from: stop.ready.from }, ...batchReport(jobs.length, sentIds) });
		return [results.flat()];
	}
}

/** A job checked and ready to send. */
interface Ready {
	job: Job;
	fingerprint: string;
	from: string;
	warnings: string[];
}

function paired(job: Job): IPairedItemData[] {
	return job.itemIndexes.map((item) => ({ item }));
}
