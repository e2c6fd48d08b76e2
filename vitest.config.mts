import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Nest's dependency injection needs legacy decorators with emitted metadata, in tests too.
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  resolve: { conditions: ['@volt/source'] },
  ssr: { resolve: { conditions: ['@volt/source'] } },
  test: {
    include: ['{apps,libs,test,tools}/**/*.spec.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    setupFiles: ['./test/setup.ts'],
  },
});
