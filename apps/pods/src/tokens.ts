export const POD_LIFECYCLE = Symbol('PodLifecycle');
