// The reference: a bare Fastify route answering a JSON body of the same size as the
// measured one, with no auth, database or framework above Fastify.
const fastify = require('fastify')({ logger: false });

const body = JSON.parse(process.env.BENCH_BODY ?? '{"ssh_keys":[],"total":0}');
fastify.get('/api/volt/ssh-keys', async () => body);
fastify.listen({ port: 0, host: '127.0.0.1' }).then((address) => process.stdout.write(`${address}\n`));
// Exit normally on SIGTERM so that --cpu-prof (BENCH_PROFILE_DIR) writes its profile.
process.on('SIGTERM', () => fastify.close().then(() => process.exit(0)));
