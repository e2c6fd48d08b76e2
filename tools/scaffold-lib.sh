#!/usr/bin/env bash
# Usage: tools/scaffold-lib.sh <dir> <package-name> <scope> <type> [deps...]
# Writes the package.json, tsconfig.json and project.json every lib shares.
set -euo pipefail
dir=$1 name=$2 scope=$3 type=$4; shift 4
mkdir -p "$dir/src"
refs=""
for d in "$@"; do refs="$refs{ \"path\": \"$(realpath --relative-to="$dir" "$d")\" },"; done
cat > "$dir/package.json" <<JSON
{
  "name": "$name",
  "version": "0.1.0",
  "private": true,
  "main": "./dist/index.js",
  "types": "./dist/index.d.ts",
  "exports": {
    ".": {
      "@volt/source": "./src/index.ts",
      "types": "./dist/index.d.ts",
      "default": "./dist/index.js"
    }
  },
  "scripts": { "build": "tsc -b" }
}
JSON
cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "$(realpath --relative-to="$dir" tsconfig.base.json)",
  "compilerOptions": { "rootDir": "src", "outDir": "dist", "tsBuildInfoFile": "dist/tsconfig.tsbuildinfo" },
  "include": ["src/**/*.ts"],
  "exclude": ["src/**/*.spec.ts"],
  "references": [${refs%,}]
}
JSON
cat > "$dir/project.json" <<JSON
{
  "name": "$name",
  "tags": ["scope:$scope", "type:$type"]
}
JSON
[ -f "$dir/src/index.ts" ] || echo "export {};" > "$dir/src/index.ts"
