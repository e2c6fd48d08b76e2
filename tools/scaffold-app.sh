#!/usr/bin/env bash
# Usage: tools/scaffold-app.sh <name> [lib dirs...]  — an app package: Nest wiring, built to dist/.
set -euo pipefail
name=$1; shift
dir=apps/$name
mkdir -p "$dir/src"
refs=""
for d in "$@"; do refs="$refs{ \"path\": \"../../$d\" },"; done
cat > "$dir/package.json" <<JSON
{
  "name": "@volt/app-$name",
  "version": "0.1.0",
  "private": true,
  "main": "./dist/main.js",
  "scripts": {
    "build": "tsc -b",
    "start": "node --require @volt/telemetry/register dist/main.js"
  }
}
JSON
cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "rootDir": "src", "outDir": "dist", "tsBuildInfoFile": "dist/tsconfig.tsbuildinfo" },
  "include": ["src/**/*.ts"],
  "exclude": ["src/**/*.spec.ts"],
  "references": [${refs%,}]
}
JSON
cat > "$dir/project.json" <<JSON
{
  "name": "@volt/app-$name",
  "tags": ["scope:$name", "type:app"]
}
JSON
