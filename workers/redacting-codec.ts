/**
 * A payload codec that replaces every credential the worker holds (lib/redact's secret values) in the JSON payloads it
 * sends: results, heartbeat details, failure details, activity inputs. Only exact secret values are replaced (never
 * URLs or other data), so legitimate payloads pass unchanged; decode is the identity. Runs in the worker's main thread.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { secretValues } from '../lib/redact';

export class RedactingPayloadCodec implements PayloadCodec {
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const secrets = secretValues();
    if (secrets.length === 0) return payloads;
    return payloads.map((p) => {
      if (!p.data || !p.data.length) return p;
      const text = Buffer.from(p.data).toString('utf8');
      // JSON-escaped forms too: a secret inside a JSON string may carry escaped characters.
      const forms = secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
      if (!forms.some((s) => text.includes(s))) return p;
      let out = text;
      for (const s of forms) out = out.split(s).join('***');
      return { ...p, data: new Uint8Array(Buffer.from(out, 'utf8')) };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }
}
