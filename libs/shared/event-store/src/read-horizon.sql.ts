/**
 * Where readers of the global order stop: before the oldest transaction that may still commit
 * an event here. Transaction ids are the server's, not the database's, so the snapshot's xmin
 * alone also waits for transactions of other databases on the same server (a migration, a
 * CREATE DATABASE, a long job elsewhere), which can never write es_events here. Those that a
 * session of another database holds (pg_stat_get_activity, read after the snapshot was taken)
 * are left out; any other running transaction, or one that ended before it was looked up, still
 * holds readers back. The reader's own transaction, if it has an id, bounds it too: its writes
 * are not final. A scalar subquery rather than a function, so that it is planned once with the
 * statement that uses it (a SQL function's body is planned again at every call).
 */
export const READ_HORIZON_SQL = `(SELECT least(coalesce(
    (SELECT min(x) FROM pg_snapshot_xip(s) AS x
     WHERE NOT EXISTS (SELECT 1 FROM pg_stat_get_activity(NULL) a
                       WHERE a.backend_xid = x::xid
                         AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
    pg_snapshot_xmax(s)), pg_current_xact_id_if_assigned())
  FROM pg_current_snapshot() AS s)`;
