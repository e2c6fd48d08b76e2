// Emmett's PostgreSQL event store under the common scenarios. Runs in its own process:
// loading it replaces pg's global JSON parsers, which would skew anything else here.
const { getPostgreSQLEventStore, readMessagesBatch } = require('@event-driven-io/emmett-postgresql');
const { dumbo } = require('@event-driven-io/dumbo');
const { freshDatabase, commonScenarios, serve } = require('./common');

// Dropping the database at the end terminates any idle connection Emmett's pools still hold;
// they have no error listener, so that one error would crash the run after its results.
process.on('uncaughtException', (error) => {
  if (error && error.code === '57P01') return;
  console.error(error);
  process.exit(1);
});

async function open() {
  const database = await freshDatabase('emmett');
  const eventStore = getPostgreSQLEventStore(database.url);
  const pool = dumbo({ connectionString: database.url });
  const store = {
    async append(stream, events, expected) {
      await eventStore.appendToStream(
        stream,
        events.map((e) => ({ type: e.type, data: e.data, ...(e.id ? { metadata: { benchId: e.id } } : {}) })),
        expected === null ? {} : { expectedStreamVersion: BigInt(expected) },
      );
    },
    async readStream(stream) {
      const result = await eventStore.readStream(stream);
      return result.events.length;
    },
    startCursor: () => 0n,
    async readAllBatch(after, batchSize) {
      const result = await readMessagesBatch(pool.execute, { after, batchSize });
      const ids = result.messages.filter((m) => m.metadata?.benchId).map((m) => m.metadata.benchId);
      const last = result.messages.length ? result.messages[result.messages.length - 1].metadata.globalPosition : after;
      return { ids, count: result.messages.length, next: last };
    },
  };
  return {
    scenarios: await commonScenarios(store),
    async close() {
      await eventStore.close();
      await pool.close();
      await database.drop();
    },
  };
}

serve('emmett', open);
