export * from './ssh-keys.decider';
export * from './templates.decider';
export * from './pod.decider';
