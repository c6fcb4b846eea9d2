import { MailError } from '../../../nodes/shared/errors';
import { optionText, textOf } from '../../../nodes/SendReportEmail/fields';

describe('textOf', () => {
	it('keeps text and numbers, turns null into empty, joins lists of plain values', () => {
		expect(textOf('a@x.test', 'to')).toBe('a@x.test');
		expect(textOf(42, 'subject')).toBe('42');
		expect(textOf(null, 'subject')).toBe('');
		expect(textOf(['a@x.test', 'b@x.test'], 'to')).toBe('a@x.test, b@x.test');
	});

	it.each([[{ title: 'x' }, 'subject', /^Subject: the expression gave an object/], [[{ a: 1 }], 'cc', /^CC: the expression gave a list of objects/]])(
		'refuses %j for %s, naming the field',
		(value, name, message) => {
			expect(() => textOf(value, name)).toThrow(MailError);
			expect(() => textOf(value, name)).toThrow(message);
		},
	);

	it('leaves unset options undefined', () => {
		expect(optionText({}, 'cc')).toBeUndefined();
		expect(() => optionText({ html: { a: 1 } }, 'html')).toThrow(/^HTML:/);
	});
});
