// Moved to src/testbed/bridge.ts (the demo ships it); kept so scripts and tests keep their imports.
export * from '../../src/testbed/bridge';
