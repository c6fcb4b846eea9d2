import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

// Skeleton: replaced by the full node (work in progress in this session).
export class VerifyMailbox implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'VerifyMailbox',
		name: 'verifyMailbox',
		icon: { light: 'file:../../icons/m365mail.svg', dark: 'file:../../icons/m365mail.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle: '',
		description: '',
		defaults: { name: 'VerifyMailbox' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		usableAsTool: true,
		credentials: [{ name: 'microsoftMailOAuth2Api', required: true }],
		properties: [],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [this.getInputData()];
	}
}
