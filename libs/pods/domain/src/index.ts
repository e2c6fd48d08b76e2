export * from './ssh-keys.decider';
export * from './templates.decider';
