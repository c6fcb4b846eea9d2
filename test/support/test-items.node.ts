/** A test-only node: emits the items given as JSON, turning `binary` entries into real n8n binary data. */
import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

interface ItemSpec {
	json: Record<string, unknown>;
	/**
	 * `dropBytes`: remove the size n8n 2.x records (`bytes`), as on binaries stored by older n8n;
	 * `bytes`: record this size instead of the real one (a stored file that changed since).
	 */
	binary?: Record<string, { base64: string; fileName: string; mimeType: string; dropBytes?: boolean; bytes?: number }>;
}

export class TestItems implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Test Items',
		name: 'testItems',
		group: ['input'],
		version: 1,
		description: 'Emits fixed items for tests',
		defaults: { name: 'Items' },
		inputs: ['main'],
		outputs: ['main'],
		properties: [{ displayName: 'Items', name: 'items', type: 'string', default: '[]' }],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const specs = JSON.parse(this.getNodeParameter('items', 0) as string) as ItemSpec[];
		const out: INodeExecutionData[] = [];
		for (const spec of specs) {
			const item: INodeExecutionData = { json: spec.json as INodeExecutionData['json'] };
			if (spec.binary) {
				item.binary = {};
				for (const [key, b] of Object.entries(spec.binary)) {
					const data = await this.helpers.prepareBinaryData(Buffer.from(b.base64, 'base64'), b.fileName, b.mimeType);
					if (b.dropBytes) delete data.bytes;
					if (b.bytes !== undefined) data.bytes = b.bytes;
					item.binary[key] = data;
				}
			}
			out.push(item);
		}
		return [out];
	}
}
