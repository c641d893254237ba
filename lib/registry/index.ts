export * from './keys';
export * from './model-card';
export * from './code-version';
export * from './versions';
export * from './production';
export * from './promotion';
export * from './register-run';
export * from './describe-model';
