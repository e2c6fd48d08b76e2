// The parts without Nest or JetStream (the connection, the subject names, the tables), for
// what needs no more: volt-admin, and the schema's list of migrations. The package's index
// loads Nest's transport and JetStream besides, over half a second of a command's start-up.
export * from './connect';
export * from './migrations';
export * from './names';
export * from './relay-checkpoints';
