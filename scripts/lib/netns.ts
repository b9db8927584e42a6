// Moved to src/testbed/netns.ts (the demo ships it); kept so scripts and tests keep their imports.
export * from '../../src/testbed/netns';
