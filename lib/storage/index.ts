export * from './object-store';
export * from './uri';
export * from './open-location';
