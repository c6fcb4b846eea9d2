/**
 * The importable examples must stay in step with the nodes: every parameter they set exists in
 * the node's description, option values are allowed ones, and credentials point at this package's
 * credential type. (The examples are also executed: test/engine/examples.test.ts, test/e2e.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import type { INodeProperties, INodeType } from 'n8n-workflow';

import { SendReportEmail } from '../../../nodes/SendReportEmail/SendReportEmail.node';
import { VerifyMailbox } from '../../../nodes/VerifyMailbox/VerifyMailbox.node';
import { MailTrigger } from '../../../nodes/MailTrigger/MailTrigger.node';

const dir = path.join(__dirname, '..', '..', '..', 'examples');
const ours: Record<string, INodeType> = { sendReportEmail: new SendReportEmail(), verifyMailbox: new VerifyMailbox(), mailTrigger: new MailTrigger() };
const TOOL_ONLY = ['toolDescription', 'descriptionType'];

interface ExampleNode {
	name: string;
	type: string;
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string }>;
}

function check(props: INodeProperties[], params: Record<string, unknown>, where: string): string[] {
	const problems: string[] = [];
	for (const [key, value] of Object.entries(params)) {
		const prop = props.find((p) => p.name === key);
		if (!prop) {
			problems.push(`${where}: unknown parameter "${key}"`);
			continue;
		}
		const allowed = (prop.options ?? []).flatMap((o) => ('value' in o ? [o.value] : []));
		if (prop.type === 'options' && typeof value === 'string' && !value.startsWith('=') && !allowed.includes(value))
			problems.push(`${where}: "${key}" = "${value}" is not one of ${allowed.join(', ')}`);
		if (prop.type === 'multiOptions' && Array.isArray(value))
			for (const v of value) if (!allowed.includes(v as string)) problems.push(`${where}: "${key}" has "${String(v)}"`);
		if (prop.type === 'collection' && value && typeof value === 'object')
			problems.push(...check((prop.options ?? []) as INodeProperties[], value as Record<string, unknown>, `${where}.${key}`));
	}
	return problems;
}

const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

it('has the four examples the README promises', () => {
	expect(files.sort()).toEqual(['ai-agent-mail-tools.json', 'mailbox-health-check.json', 'new-mail-forward-report.json', 'weekly-report.json']);
});

it.each(files)('%s only sets parameters the nodes have', (file) => {
	const wf = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nodes: ExampleNode[] };
	const problems: string[] = [];
	let used = 0;
	for (const node of wf.nodes) {
		const m = /^n8n-nodes-m365-mail\.(\w+?)(Tool)?$/.exec(node.type);
		if (!m) continue;
		used++;
		const type = ours[m[1]];
		if (!type) {
			problems.push(`${node.name}: no node type ${node.type}`);
			continue;
		}
		if (m[2] && !type.description.usableAsTool) problems.push(`${node.name}: ${m[1]} is not usable as a tool`);
		const params = Object.fromEntries(Object.entries(node.parameters).filter(([k]) => !(m[2] && TOOL_ONLY.includes(k))));
		problems.push(...check(type.description.properties, params, node.name));
		expect(Object.keys(node.credentials ?? {})).toEqual(['microsoftMailOAuth2Api']);
	}
	expect(used).toBeGreaterThan(0);
	expect(problems).toEqual([]);
});
