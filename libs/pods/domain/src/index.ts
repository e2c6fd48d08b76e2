export * from './ssh-keys.decider';
