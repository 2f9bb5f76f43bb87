// ESLint flat config for `make lint`: the recommended rules over the dashboard
// (htdocs/js, ES modules in the browser; Chart comes from the vendored chart.js script)
// and the browser tests (tests/browser, Node ES modules whose page.evaluate callbacks
// run in the page, so browser globals are known there too).
import js from '@eslint/js';
import globals from 'globals';

export default [
	{ ignores: ['htdocs/vendor/**', 'node_modules/**', 'build/**', 'tests/browser/artifacts/**'] },
	js.configs.recommended,
	{
		files: ['htdocs/js/**/*.js'],
		languageOptions: {
			ecmaVersion: 2022,
			sourceType: 'module',
			globals: { ...globals.browser, Chart: 'readonly' },
		},
	},
	{
		files: ['tests/browser/**/*.mjs'],
		languageOptions: {
			ecmaVersion: 2022,
			sourceType: 'module',
			globals: { ...globals.node, ...globals.browser },
		},
	},
	{
		files: ['eslint.config.mjs'],
		languageOptions: { sourceType: 'module', globals: globals.node },
	},
];
