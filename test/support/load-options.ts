/**
 * Calls a node's list search (a resource locator's "From list" dropdown) the way n8n does it:
 * n8n's DynamicNodeParametersService.getResourceLocatorResults builds a workflow holding one
 * "Temp-Node" with the node's current parameters and credentials, creates n8n-core's
 * LoadOptionsContext for it and calls the method with the filter text the user typed.
 */
import { LoadOptionsContext } from 'n8n-core';
import { Workflow, type INode, type INodeListSearchResult, type INodeParameters, type IWorkflowExecuteAdditionalData } from 'n8n-workflow';

import { CREDENTIAL_TYPE } from '../../nodes/shared/constants';
import { EXECUTION_DEFAULTS, nodeTypes, stubbed, type CredentialStore } from './engine';

export async function listSearch(
	store: CredentialStore,
	nodeType: string,
	methodName: string,
	parameters: INodeParameters,
	filter?: string,
	credentialId = 'cred-1',
): Promise<INodeListSearchResult | undefined> {
	const type = nodeTypes.getByNameAndVersion(nodeType, 1);
	const method = type.methods?.listSearch?.[methodName];
	if (!method) throw new Error(`${nodeType} has no listSearch method ${methodName}`);
	const node: INode = {
		parameters,
		id: 'uuid-1234',
		name: 'Temp-Node',
		type: nodeType,
		typeVersion: 1,
		position: [0, 0],
		credentials: { [CREDENTIAL_TYPE]: { id: credentialId, name: store.get(credentialId).name } },
	};
	const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
	const additionalData = stubbed<IWorkflowExecuteAdditionalData>({ credentialsHelper: store, currentNodeParameters: parameters, ...EXECUTION_DEFAULTS });
	const context = new LoadOptionsContext(workflow, workflow.nodes['Temp-Node'], additionalData, 'parameters.folder');
	return await method.call(context, filter);
}
