/**
 * The canvas subtitle under the node, evaluated by n8n's expression engine as the editor does: with
 * `$parameter` holding the node's parameters as stored (an expression is its `={{ ... }}` source).
 */
import { Workflow, type INode, type INodeTypes } from 'n8n-workflow';

import { SendReportEmail } from '../../../nodes/SendReportEmail/SendReportEmail.node.js';

const type = new SendReportEmail();
const nodeTypes: INodeTypes = { getByName: () => type, getByNameAndVersion: () => type, getKnownTypes: () => ({}) };

function subtitle(parameters: Record<string, string>): unknown {
	const node: INode = { id: '1', name: 'Send', type: 'x.sendReportEmail', typeVersion: 1, position: [0, 0], parameters };
	const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
	return workflow.expression.getSimpleParameterValue(node, String(type.description.subtitle), 'internal', { $parameter: parameters });
}

describe('subtitle', () => {
	it('names typed recipients', () => {
		expect(subtitle({ mode: 'report', to: 'it@contoso.com' })).toBe('Report email to it@contoso.com');
		expect(subtitle({ mode: 'perItem', to: 'a@contoso.com, b@contoso.com' })).toBe('One email per item to a@contoso.com, b@contoso.com');
	});

	it('reads well when To is an expression or empty', () => {
		expect(subtitle({ mode: 'perItem', to: '={{ $json.email }}' })).toBe('One email per item');
		expect(subtitle({ mode: 'report', to: '' })).toBe('Report email');
		expect(subtitle({ to: '' })).toBe('One email per item');
	});
});
