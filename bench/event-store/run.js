#!/usr/bin/env node
// npm run bench:event-store — Volt's event store against Emmett's on the same PostgreSQL, each
// store in its own process, round by round and within a round scenario by scenario (the stores
// take turns, order rotating), then the medians and the Volt/Emmett ratios; in the same turns,
// PostgreSQL's floor (floor.js) for the scenarios where one caller waits on each call.
// BENCH_ROUNDS (default 5) and BENCH_SCALE (default 1) adjust it.
const { fork } = require('node:child_process');
const path = require('node:path');
const { median } = require('../stats');

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const get = (o, key) => key.split('.').reduce((x, k) => x[k], o);

/** A store's process (see serve() in common.js), asked one thing at a time. */
function storeProcess(name) {
  const child = fork(path.join(__dirname, `${name}.js`), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return {
    name,
    ask: (order) =>
      new Promise((resolve, reject) => {
        const onExit = (code) => reject(new Error(`${name} exited (${code}) during ${JSON.stringify(order)}`));
        child.once('exit', onExit);
        child.once('message', (answer) => {
          child.removeListener('exit', onExit);
          if (answer.error) reject(new Error(`${name}: ${answer.error}`));
          else resolve(answer);
        });
        child.send(order);
      }),
    stop: () => child.disconnect(),
  };
}

async function main() {
  const all = { volt: [], emmett: [], floor: [] };
  const stores = Object.keys(all).map(storeProcess);
  for (let r = 0; r < rounds; r++) {
    // Each round on fresh databases; the stores take turns scenario by scenario, in an order
    // that rotates, so that each pair of figures is measured seconds apart.
    const offered = new Map();
    for (const store of stores) {
      offered.set(store.name, (await store.ask({ op: 'open' })).scenarios);
      all[store.name].push({});
    }
    const scenarios = offered.get('volt');
    for (const [i, scenario] of scenarios.entries()) {
      process.stderr.write(`round ${r + 1}/${rounds}: ${scenario}…\n`);
      for (let k = 0; k < stores.length; k++) {
        const store = stores[(r + i + k) % stores.length];
        if (offered.get(store.name).includes(scenario)) all[store.name][r][scenario] = (await store.ask({ op: 'run', scenario })).result;
      }
    }
    for (const store of stores) await store.ask({ op: 'close' });
  }
  for (const store of stores) store.stop();
  report(all);
}

function report({ volt, emmett, floor }) {
  const rows = [
    ['single appends, 1 stream sequential (appends/s)', 'sequential.perSecond', '≥ 2×'],
    ['single appends, 16 streams (appends/s)', 'streams16.perSecond', '≥ 3.5×'],
    ['single appends, 64 streams (appends/s)', 'streams64.perSecond', '≥ 5×'],
    ['  p50 latency at 16 streams (ms)', 'streams16.p50'],
    ['  p99 latency at 16 streams (ms)', 'streams16.p99'],
    ['  p50 latency at 64 streams (ms)', 'streams64.p50'],
    ['  p99 latency at 64 streams (ms)', 'streams64.p99', '≤ 15 ms'],
    ['10-event batches, 1 stream (events/s)', 'batch1.perSecond', '≥ 2×'],
    ['10-event batches, 16 streams (events/s)', 'batch16.perSecond', '≥ 2×'],
    ['read one 10,000-event stream (events/s)', 'streamRead.perSecond', '≥ 2×'],
    ['read-all replay (events/s)', 'readAll.readAllPerSecond', '≥ 100,000/s'],
    ['  events in the replay', 'readAll.readAllEvents'],
    ['  missed by a concurrent follower', 'readAll.missed', '0'],
    ['  duplicated to a concurrent follower', 'readAll.duplicated', '0'],
  ];
  const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2));
  console.log(`\nEvent store benchmark: medians of ${rounds} paired rounds (${new Date().toISOString().slice(0, 10)}, ${require('node:os').cpus().length} cores)\n`);
  console.log('| measure | Volt | Emmett 0.42 | Volt/Emmett | target | PostgreSQL floor | floor/Emmett |');
  console.log('| --- | ---: | ---: | ---: | --- | ---: | ---: |');
  const has = (results, key) => get(results, key.split('.')[0]) !== undefined;
  // BENCH_SCENARIOS=a,b runs only those scenarios: rows of the others are left out.
  for (const [label, key, target = ''] of rows.filter(([, key]) => has(volt[0], key))) {
    const v = median(volt.map((x) => get(x, key)));
    const e = median(emmett.map((x) => get(x, key)));
    const ratio = e > 0 && !/missed|duplicated|events in/.test(label) ? `${(v / e).toFixed(2)}×` : '';
    const f = has(floor[0], key) ? median(floor.map((x) => get(x, key))) : undefined;
    const floorRatio = f !== undefined && ratio ? `${(f / e).toFixed(2)}×` : '';
    console.log(`| ${label} | ${fmt(v)} | ${fmt(e)} | ${ratio} | ${target} | ${f === undefined ? '' : fmt(f)} | ${floorRatio} |`);
  }
  const only = [
    ['projection catch-up (events/s)', 'projection.perSecond', '≥ 50,000/s'],
    ['append, then its read model applied it: p50 (ms)', 'readYourWrites.p50'],
    ['append, then its read model applied it: p99 (ms)', 'readYourWrites.p99'],
    ['relay: appends/s during the lag run (64 streams)', 'relay.appendsPerSecond'],
    ['relay lag p50 (ms)', 'relay.p50'],
    ['relay lag p99 (ms)', 'relay.p99', '< 1,000 ms'],
    ['relay lag max (ms)', 'relay.max'],
  ];
  for (const [label, key, target = ''] of only.filter(([, key]) => has(volt[0], key))) console.log(`| ${label} | ${fmt(median(volt.map((x) => get(x, key))))} | – | | ${target} | | |`);
  const perRound = (key) => (has(volt[0], key) ? volt.map((x, i) => `${(get(x, key) / get(emmett[i], key)).toFixed(2)}`).join(' ') : '–');
  const perRoundFloor = (key) => (has(floor[0], key) ? volt.map((x, i) => `${(get(x, key) / get(floor[i], key)).toFixed(2)}`).join(' ') : '–');
  console.log(`\nper-round Volt/floor — sequential: ${perRoundFloor('sequential.perSecond')}; 10-event batches: ${perRoundFloor('batch1.perSecond')}`);
  console.log(`per-round Volt/Emmett — sequential: ${perRound('sequential.perSecond')}; 16 streams: ${perRound('streams16.perSecond')}; 64 streams: ${perRound('streams64.perSecond')}; 10-event batches: ${perRound('batch1.perSecond')}, at 16 streams ${perRound('batch16.perSecond')}; stream read: ${perRound('streamRead.perSecond')}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
