#!/usr/bin/env node
// Writes the JSON Schema of every event and command to docs/schemas/, from the zod
// contracts (compiled). With --check, fails when the committed files are stale.
const fs = require('node:fs');
const path = require('node:path');
const { z } = require('zod');
const { allMessages } = require('@volt/schema');
const { EventEnvelopeSchema, CommandEnvelopeSchema } = require('@volt/contracts');

const outDir = path.resolve(__dirname, '..', 'docs', 'schemas');
const check = process.argv.includes('--check');

const files = new Map();
const write = (name, schema) => files.set(name, `${JSON.stringify(schema, null, 2)}\n`);
write('envelope/event.json', z.toJSONSchema(EventEnvelopeSchema, { io: 'output' }));
write('envelope/command.json', z.toJSONSchema(CommandEnvelopeSchema, { io: 'output' }));
for (const message of allMessages) {
  const folder = message.kind === 'event' ? 'events' : 'commands';
  const schema = z.toJSONSchema(message.schema, { io: 'output' });
  write(`${folder}/${message.context}.${message.type}.v${message.schemaVersion}.json`, {
    ...schema,
    title: `${message.context}.${message.type}`,
    description: `${message.kind === 'event' ? `Event data on volt.evt.${message.context}.${message.type}` : `Command data on volt.cmd.${message.context}.${message.type}`} (schema version ${message.schemaVersion})`,
  });
}

const stale = [];
for (const [name, text] of files) {
  const target = path.join(outDir, name);
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : undefined;
  if (current === text) continue;
  if (check) stale.push(name);
  else {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, text);
  }
}
const listed = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.json')).map((f) => f.replaceAll(path.sep, '/')) : []);
for (const name of listed(outDir)) {
  if (files.has(name)) continue;
  if (check) stale.push(`${name} (no longer defined)`);
  else fs.rmSync(path.join(outDir, name));
}
if (check && stale.length) {
  console.error(`JSON Schemas are stale; run \`npm run schemas\` and commit:\n  ${stale.join('\n  ')}`);
  process.exit(1);
}
console.log(`${check ? 'checked' : 'wrote'} ${files.size} JSON Schemas in docs/schemas`);
