import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.data/', '.tools/', 'coverage/', '*.js', '*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Jest loads its test sequencer with a plain require: CommonJS, not TypeScript.
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      // Workflow code is replayed: anything nondeterministic must come from the SDK.
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval'],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../activities', '../activities/*', '../db/*', '../providers/*', '../runtime/*'], allowTypeImports: true }], paths: ['pg', 'express'] },
      ],
    },
  },
);
