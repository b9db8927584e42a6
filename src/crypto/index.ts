// LISP-crypto (RFC 8061): key pairs, key derivation, reference data encryption, replay window.
// Pure: no I/O, only node:crypto.
export * from './suites';
export * from './x25519';
export * from './kdf';
export * from './data';
export * from './replay';
export * from './key-event';
export * from './cpu';
