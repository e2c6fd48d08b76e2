#!/usr/bin/env node
// Enforces the project tags of CONVENTIONS.md over every import in apps/ and libs/.
// Exits 1 and lists each violation. Run by `npm test` and CI.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const FRAMEWORK = /^(@nestjs\/|kysely|pg$|pg\/|@nats-io\/|@opentelemetry\/|fastify|@fastify\/|pino|prom-client|rxjs|reflect-metadata)/;

function findProjects(dir, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === 'node_modules' || entry.name === 'dist') continue;
    const full = path.join(dir, entry.name);
    const projectFile = path.join(full, 'project.json');
    if (fs.existsSync(projectFile)) {
      const project = JSON.parse(fs.readFileSync(projectFile, 'utf8'));
      const tags = Object.fromEntries(project.tags.map((t) => t.split(':')));
      out.push({ name: project.name, dir: full, scope: tags.scope, type: tags.type });
    } else findProjects(full, out);
  }
  return out;
}

function sourceFiles(dir, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(full, out);
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

/** May a project of `from` import a project of `to`? Returns the reason when not. */
function refusal(from, to, isSpec) {
  if (to.type === 'app') return 'nothing imports an app';
  if (to.type === 'util' && !isSpec && from.type !== 'util') return 'test helpers (type:util) are for spec files only';
  const allowedTypes = {
    app: ['infra', 'domain', 'contracts', 'util'],
    infra: ['infra', 'domain', 'contracts'],
    domain: ['domain', 'contracts'],
    contracts: ['contracts'],
    util: ['infra', 'domain', 'contracts', 'util'],
  }[from.type];
  if (!allowedTypes.includes(to.type) && !(isSpec && to.type === 'util')) return `type:${from.type} may not import type:${to.type}`;
  if (from.type === 'app' || from.scope === 'platform' || to.scope === 'shared' || to.scope === from.scope) return null;
  if (from.scope === 'shared') return `scope:shared may import only scope:shared (not scope:${to.scope})`;
  if (to.type !== 'contracts') return `scope:${from.scope} may reach scope:${to.scope} only through its contracts`;
  return null;
}

const projects = findProjects(path.join(root, 'apps')).concat(findProjects(path.join(root, 'libs')));
const byName = new Map(projects.map((p) => [p.name, p]));
const violations = [];
for (const project of projects) {
  const src = path.join(project.dir, 'src');
  if (!fs.existsSync(src)) continue;
  for (const file of sourceFiles(src)) {
    const isSpec = file.endsWith('.spec.ts');
    const text = fs.readFileSync(file, 'utf8');
    const where = path.relative(root, file);
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1] ?? match[2] ?? match[3] ?? match[4];
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec);
        if (!target.startsWith(project.dir + path.sep)) violations.push(`${where}: relative import "${spec}" leaves ${project.name}; import the package instead`);
        continue;
      }
      if (project.type === 'domain' && !isSpec && FRAMEWORK.test(spec)) violations.push(`${where}: type:domain imports "${spec}" (no framework, database, bus or telemetry in the domain)`);
      if (project.type === 'contracts' && FRAMEWORK.test(spec)) violations.push(`${where}: type:contracts imports "${spec}"`);
      if (!spec.startsWith('@volt/')) continue;
      const target = byName.get(spec.split('/').slice(0, 2).join('/'));
      if (!target) {
        violations.push(`${where}: imports unknown project ${spec}`);
        continue;
      }
      if (target === project) continue;
      const why = refusal(project, target, isSpec);
      if (why) violations.push(`${where}: ${project.name} → ${target.name}: ${why}`);
    }
  }
}
if (violations.length) {
  console.error(`module boundaries: ${violations.length} violation(s)`);
  for (const v of violations) console.error(`  ${v}`);
  process.exit(1);
}
console.log(`module boundaries: ${projects.length} projects checked, no violations`);
