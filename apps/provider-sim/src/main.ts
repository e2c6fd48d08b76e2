import { startProviderSim } from './server';

// The simulated GPU clouds as their own process: `npm start` and docker-compose run it.
const env = process.env;
const num = (name: string, fallback: number) => (env[name] === undefined || env[name] === '' ? fallback : Number(env[name]));

startProviderSim({
  port: num('PORT', 8090),
  host: env.HOST ?? '127.0.0.1',
  stateFile: env.SIM_STATE_FILE ?? '.volt/provider-sim.json',
  transitionMs: num('SIM_TRANSITION_MS', 3000),
  liumCopies: num('SIM_LIUM_COPIES', 1),
  targonCapacity: num('SIM_TARGON_CAPACITY', 16),
  priceDrift: num('SIM_PRICE_DRIFT', 0.06),
  pricePeriodMs: num('SIM_PRICE_PERIOD_MS', 15 * 60_000),
  faults: env.SIM_FAULTS ? JSON.parse(env.SIM_FAULTS) : undefined,
  sshHost: env.SIM_SSH_HOST || undefined,
}).then(
  (sim) => {
    process.stdout.write(`provider-sim listening on ${sim.url}\n`);
    const stop = () => sim.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  },
  (error) => {
    console.error(`provider-sim failed to start: ${(error as Error).message}`);
    process.exit(1);
  },
);
