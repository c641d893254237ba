import { Client, Connection } from '@temporalio/client';
import { temporalConfig, temporalTlsOptions } from '../lib/config';

/** A Temporal client for CLI commands; close() when done. */
export async function connectClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const cfg = temporalConfig();
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: cfg.address, connectTimeout: 5000, tls: temporalTlsOptions(cfg.tls) });
  } catch (err) {
    throw new Error(`cannot reach Temporal at ${cfg.address} (${(err as Error).message.split('\n')[0]}); is the stack up? (siamface stack up)`);
  }
  return { client: new Client({ connection, namespace: cfg.namespace }), close: () => connection.close() };
}

/** Runs fn with a connected client and always closes the connection. */
export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient();
  try {
    return await fn(client);
  } finally {
    await close();
  }
}

/**
 * The message that explains a failed workflow: Temporal wraps the cause (WorkflowFailedError ->
 * ActivityFailure "Activity task failed" -> ApplicationFailure with our message); the innermost says what happened.
 */
export function rootCauseMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = e?.message ?? String(err);
  while (e?.cause && typeof e.cause === 'object') {
    e = e.cause as { message?: string; cause?: unknown };
    if (e.message) message = e.message;
  }
  return message;
}
