// Decoder for the "flatted" format n8n uses for execution data in its REST answers (the format of
// the `flatted` npm package, which this project does not depend on directly): a JSON array whose
// first entry is the root value; inside objects and arrays every string is an index into the
// array, and real strings live in the array as entries of their own. Cycles are allowed.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A string read from the wire inside an object or array: a reference, not a value yet. */
class Ref {
	constructor(readonly index: number) {}
}

type Raw = null | boolean | number | string | Ref | Raw[] | { [key: string]: Raw };

function isContainer(value: unknown): value is Raw[] | { [key: string]: Raw } {
	return typeof value === 'object' && value !== null && !(value instanceof Ref);
}

export function parseFlatted(text: string): unknown {
	const parsed: unknown = JSON.parse(text);
	if (!Array.isArray(parsed)) throw new Error('flatted: expected an array');
	// Strings nested in entries are references; top-level string entries are values.
	const toRaw = (value: unknown, nested: boolean): Raw => {
		if (typeof value === 'string') return nested ? new Ref(Number(value)) : value;
		if (Array.isArray(value)) return value.map((v) => toRaw(v, true));
		if (typeof value === 'object' && value !== null) {
			const out: { [key: string]: Raw } = {};
			for (const [k, v] of Object.entries(value)) out[k] = toRaw(v, true);
			return out;
		}
		if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
		throw new Error('flatted: unexpected value');
	};
	const input: Raw[] = parsed.map((entry) => toRaw(entry, false));
	const resolved = new Set<Raw>();

	const revive = (container: Raw[] | { [key: string]: Raw }): Json => {
		resolved.add(container);
		const target = container as Record<string, Raw>;
		for (const key of Object.keys(target)) {
			const value = target[key];
			if (value instanceof Ref) {
				const entry = input[value.index];
				if (entry === undefined) throw new Error(`flatted: bad reference ${value.index}`);
				if (isContainer(entry) && !resolved.has(entry)) revive(entry);
				target[key] = entry;
			}
		}
		return container as Json;
	};

	const root = input[0];
	return isContainer(root) ? revive(root) : root;
}
